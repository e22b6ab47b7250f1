// The supervisor (runtime/supervisor.h): hostile HDF5 files that crash Debian's libhdf5 give one
// clean line and an exit status, never a dead scfm; a hang inside HDF5 is cut off; a crash leaves
// no temporary and no half-written store; signals and exit statuses pass through.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.h"

using namespace scfm;
namespace fs = std::filesystem;

namespace {

std::string hostile(const std::string& name) { return test::source_dir() + "/tests/hostile/" + name; }

// the last line of the output
std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t at = t.rfind('\n');
  return at == std::string::npos ? t : t.substr(at + 1);
}

bool has_temporaries(const std::string& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Supervisor, HdfCrashesBecomeOneLine) {
  for (const char* f : {"cve-2018-13867.h5", "cve-2018-13869.h5", "cve-2018-13871.h5"}) {
    const auto r = test::run_command(test::scfm_binary() + " info " + hostile(f));
    EXPECT_EQ(r.exit_code, 3) << f << "\n" << r.output;  // exit status 3, not a signal (run_command gives 128+n then)
    const std::string line = last_line(r.output);
    EXPECT_NE(line.find(std::string("scfm: ") + hostile(f) + ": the HDF5 library crashed ("), std::string::npos) << line;
    EXPECT_NE(line.find("the file is damaged or hostile"), std::string::npos) << line;
  }
  const auto obs = test::run_command(test::scfm_binary() + " info " + hostile("cve-2018-13867.h5"));
  EXPECT_NE(obs.output.find("while reading /obs"), std::string::npos) << obs.output;
}

TEST(Supervisor, CrashDuringIngestLeavesNothingBehind) {
  test::TempDir dir;
  test::run_all({test::scfm_binary() + " vocab build " + test::real_data("pbmc_small.h5ad") + " --out " + (dir / "vocab.json")});
  const auto r = test::run_command(test::scfm_binary() + " ingest " + hostile("cve-2018-13867.h5") + " --vocab " +
                                   (dir / "vocab.json") + " --out " + (dir / "store"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_FALSE(fs::exists(dir / "store")) << r.output;
  EXPECT_FALSE(has_temporaries(dir.path()));
}

TEST(Supervisor, ErrorThenExitTimeCrashIsACleanRefusal) {
  // HDF5 reports an error, and its exit-time cleanup used to crash afterwards
  const auto r = test::run_command(test::scfm_binary() + " info " + hostile("cve-2025-6269-1.h5"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot list group members"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(hostile("cve-2025-6269-1.h5")), std::string::npos) << r.output;  // the file is named
}

TEST(Supervisor, HangInsideHdf5IsCutOff) {
  const auto r = test::run_command("SCFM_TEST_HDF5_STALL=30 SCFM_HDF5_TIMEOUT=0.5 " + test::scfm_binary() + " info " +
                                   test::real_data("pbmc_small.h5ad"));
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("the HDF5 library hung while reading / (superblock) (no return for 0.5 s)"), std::string::npos)
      << r.output;
  // within the limit the same stall is just slow
  const auto ok = test::run_command("SCFM_TEST_HDF5_STALL=0.2 SCFM_HDF5_TIMEOUT=20 " + test::scfm_binary() + " info " +
                                    test::real_data("pbmc_small.h5ad"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST(Supervisor, StatusesAndTrustedMode) {
  // good files and ordinary errors are unchanged
  EXPECT_EQ(test::run_command(test::scfm_binary() + " info " + test::real_data("pbmc_small.h5ad")).exit_code, 0);
  const auto missing = test::run_command(test::scfm_binary() + " info /nonexistent.h5ad");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  // --trusted-input reads in-process: the same results for good files
  const auto a = test::run_command(test::scfm_binary() + " info " + test::real_data("pbmc_small.h5ad"));
  const auto b = test::run_command(test::scfm_binary() + " --trusted-input info " + test::real_data("pbmc_small.h5ad"));
  EXPECT_EQ(b.exit_code, 0);
  EXPECT_EQ(a.output, b.output);
  // SIGTERM or SIGINT sent to scfm's pid alone (not from a terminal) stops the work: the status
  // says so (128 + n). Started from Python with SIGINT at its default: shells start background jobs
  // with it ignored, which scfm keeps. The signal is sent once the worker exists (the supervisor's
  // handlers are set right after fork), so a loaded machine cannot make it arrive too early.
  auto stop_with = [](const std::string& sig) {
    return test::run_command(std::string(SCFM_PYTHON) +
                             " -c \"import os, signal, subprocess, time; "
                             "p = subprocess.Popen(['" + test::scfm_binary() + "', 'info', '" + test::real_data("pbmc_small.h5ad") +
                             "'], env=dict(os.environ, SCFM_TEST_HDF5_STALL='20'), "
                             "preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)); "
                             "kids = lambda: open('/proc/%d/task/%d/children' % (p.pid, p.pid)).read().strip(); "
                             "t = time.time(); "
                             "exec('while not kids() and time.time() - t < 60: time.sleep(0.05)'); "
                             "time.sleep(0.5); p.send_signal(signal." + sig + "); print(p.wait())\"");
  };
  const auto t = stop_with("SIGTERM");
  EXPECT_EQ(t.output, "143\n") << t.output;
  const auto i = stop_with("SIGINT");
  EXPECT_EQ(i.output, "130\n") << i.output;
}
