// End to end: the built scfm binary chooses its OpenBLAS core before main's work, as reported by
// `scfm info --system --json`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "scfm/runtime/blas.h"
#include "test_util.h"

namespace scfm::runtime {
namespace {

// A clean environment for the BLAS choice: the test binary's own choice (which its children
// inherit) and any OPENBLAS_CORETYPE of the machine are removed.
const char* kClean =
    "env -u OPENBLAS_CORETYPE -u SCFM_BLAS_CORETYPE -u SCFM_BLAS_CHECKED -u SCFM_BLAS_CHOSEN_BY "
    "-u SCFM_BLAS_NOTE -u SCFM_BLAS_FALLBACK -u SCFM_BLAS_EXECS ";

struct InfoRun {
  int exit_code;
  std::string output;
  nlohmann::json blas;
};

// Runs `scfm info --system --json` with extra environment assignments, returns its "blas".
InfoRun info_with(const std::string& env) {
  auto r = test::run_command(std::string(kClean) + env + " " + test::scfm_binary() +
                             " info --system --json");
  InfoRun run{r.exit_code, r.output, nullptr};
  auto open = r.output.find('{');
  auto close = r.output.rfind('}');
  if (r.exit_code == 0 && open != std::string::npos && close != std::string::npos) {
    nlohmann::json j = nlohmann::json::parse(r.output.substr(open, close - open + 1), nullptr, false);
    if (!j.is_discarded() && j.contains("blas")) run.blas = j["blas"];
  }
  return run;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool openblas_loaded() { return blas_info().is_openblas; }

TEST(CliBlas, AutoChoosesAFastCore) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  InfoRun run = info_with("");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  const std::string core = run.blas["core"];
  EXPECT_NE(lower(core), "prescott") << run.output;
  EXPECT_EQ(run.blas["chosen_by"], "auto");
  EXPECT_TRUE(run.blas["verified"].get<bool>());
  EXPECT_EQ(lower(run.blas["requested_core"].get<std::string>()), lower(core));
  if (cpu_features().has_avx512_skx()) {
    EXPECT_EQ(core_tier(core), 3) << "AVX-512 CPU runs " << core << "\n" << run.output;
  }
}

TEST(CliBlas, ScfmBlasCoretypeOverrides) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  InfoRun run = info_with("SCFM_BLAS_CORETYPE=Haswell");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["core"], "Haswell");
  EXPECT_EQ(run.blas["chosen_by"], "SCFM_BLAS_CORETYPE");
  EXPECT_TRUE(run.blas["verified"].get<bool>());
  // and it wins over the machine's own OPENBLAS_CORETYPE
  run = info_with("OPENBLAS_CORETYPE=Prescott SCFM_BLAS_CORETYPE=Haswell");
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["core"], "Haswell");
}

TEST(CliBlas, UsersOpenblasCoretypeIsKeptWithoutReexec) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  InfoRun run = info_with("OPENBLAS_CORETYPE=Haswell");
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["core"], "Haswell");
  EXPECT_EQ(run.blas["chosen_by"], "OPENBLAS_CORETYPE");
  EXPECT_EQ(run.blas["execs"], 0);
}

TEST(CliBlas, AutoReplacesASlowCoreByReexecuting) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  // OpenBLAS loads Prescott, as it does on CPUs it does not know; auto must re-execute.
  InfoRun run = info_with("OPENBLAS_CORETYPE=Prescott SCFM_BLAS_CORETYPE=auto");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(lower(run.blas["core"].get<std::string>()),
            lower(candidate_cores(cpu_features()).front()));
  EXPECT_EQ(run.blas["execs"], 1) << run.output;
  EXPECT_TRUE(run.blas["verified"].get<bool>());
}

TEST(CliBlas, UnknownCoreNameWarnsAndRuns) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  InfoRun run = info_with("SCFM_BLAS_CORETYPE=NoSuchCore");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_NE(run.output.find("warning"), std::string::npos) << run.output;
  EXPECT_FALSE(run.blas["core"].get<std::string>().empty());
  ASSERT_EQ(run.blas["fallbacks"].size(), 1u) << run.output;
  EXPECT_EQ(run.blas["fallbacks"][0].get<std::string>().rfind("NoSuchCore:", 0), 0u);
  EXPECT_EQ(run.blas["execs"], 1);
}

TEST(CliBlas, NoneLeavesOpenblasAlone) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  InfoRun run = info_with("SCFM_BLAS_CORETYPE=none");
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["chosen_by"], "none");
  EXPECT_EQ(run.blas["execs"], 0);
  EXPECT_EQ(run.blas["requested_core"], "");
}

TEST(CliBlas, ReexecKeepsArgumentsAndPrintsOnce) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  // Prescott preloaded + auto forces one re-exec; the text report must come out once, whole.
  auto r = test::run_command(std::string(kClean) + "OPENBLAS_CORETYPE=Prescott SCFM_BLAS_CORETYPE=auto " +
                             test::scfm_binary() + " info --system");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("CPU", 0), 0u) << r.output;
  EXPECT_EQ(r.output.find("BLAS core"), r.output.rfind("BLAS core")) << r.output;
  EXPECT_NE(r.output.find("re-executed"), std::string::npos) << r.output;
}

TEST(CliBlas, VersionSkipsTheReexec) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  auto r = test::run_command(std::string(kClean) + "OPENBLAS_CORETYPE=Prescott SCFM_BLAS_CORETYPE=auto " +
                             test::scfm_binary() + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "scfm 0.1.0\n");
}

TEST(CliBlas, FailingCoresFallBackToSaferOnes) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx512_skx()) GTEST_SKIP() << "CPU lacks AVX-512";
  // Pretend both AVX-512 cores compute wrong results: auto must step down to Haswell.
  InfoRun run = info_with("SCFM_BLAS_TEST_FAIL=Cooperlake,SkylakeX");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["core"], "Haswell") << run.output;
  EXPECT_TRUE(run.blas["verified"].get<bool>());
  ASSERT_GE(run.blas["fallbacks"].size(), 1u) << run.output;
  for (const auto& rejected : run.blas["fallbacks"]) {
    const std::string text = rejected;
    EXPECT_TRUE(text.rfind("Cooperlake:", 0) == 0 || text.rfind("SkylakeX:", 0) == 0) << text;
    EXPECT_NE(text.find("SCFM_BLAS_TEST_FAIL"), std::string::npos) << text;
  }
  // one re-exec per rejected core, plus one more when OpenBLAS had not loaded the first choice
  const int execs = run.blas["execs"], rejected = static_cast<int>(run.blas["fallbacks"].size());
  EXPECT_TRUE(execs == rejected || execs == rejected + 1) << run.output;
}

TEST(CliBlas, UsersFailingCoreIsKeptWithAWarning) {
  if (!openblas_loaded()) GTEST_SKIP() << "BLAS is not OpenBLAS";
  if (!cpu_features().has_avx2_fma()) GTEST_SKIP() << "CPU lacks AVX2+FMA";
  InfoRun run = info_with("SCFM_BLAS_CORETYPE=Haswell SCFM_BLAS_TEST_FAIL=Haswell");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_TRUE(run.blas.is_object()) << run.output;
  EXPECT_EQ(run.blas["core"], "Haswell");
  EXPECT_FALSE(run.blas["verified"].get<bool>());
  EXPECT_NE(run.output.find("warning"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace scfm::runtime
