#include "scfm/runtime/supervisor.h"

#include <ATen/Context.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>

#include "scfm/util/supervision.h"

namespace scfm::runtime {

namespace {

volatile sig_atomic_t g_child = 0;

void forward(int sig) {
  if (g_child > 0) ::kill(static_cast<pid_t>(g_child), sig);
}

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

// bytes, with an optional K/M/G suffix; -1 when unparsable
long long parse_size(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || v < 0) return -1;
  double mult = 1;
  if (*end == 'K' || *end == 'k') mult = 1024.0;
  else if (*end == 'M' || *end == 'm') mult = 1024.0 * 1024;
  else if (*end == 'G' || *end == 'g') mult = 1024.0 * 1024 * 1024;
  else if (*end != '\0') return -1;
  return static_cast<long long>(v * mult);
}

void limit_memory() {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer maps terabytes of shadow memory: an address-space cap would stop every run.
  // Its own allocation limit (ASAN_OPTIONS max_allocation_size_mb, allocator_may_return_null)
  // stands in for it (scripts/reliability/sanitize.sh).
  return;
#endif
  long long limit = -1;
  if (const char* v = std::getenv("SCFM_MEMORY_LIMIT")) {
    limit = parse_size(v);
    if (limit < 0) {
      std::fprintf(stderr, "scfm: SCFM_MEMORY_LIMIT='%s': expected bytes, optionally with K, M or G\n", v);
      std::_Exit(1);
    }
    if (limit == 0) return;
  } else {
    if (at::hasCUDA()) return;  // the CUDA driver reserves address space far beyond RAM
    struct sysinfo si;
    if (sysinfo(&si) != 0) return;
    limit = static_cast<long long>((static_cast<unsigned long long>(si.totalram) + si.totalswap) * si.mem_unit);
    limit = std::max(limit, 4LL << 30);
  }
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(limit);
  setrlimit(RLIMIT_AS, &rl);
}

double hdf5_timeout_s() {
  if (const char* v = std::getenv("SCFM_HDF5_TIMEOUT")) {
    char* end = nullptr;
    const double t = std::strtod(v, &end);
    if (end != v && t > 0) return t;
  }
  return 300;
}

std::string signal_name(int sig) {
  const char* d = sigdescr_np(sig);
  const char* n = sigabbrev_np(sig);
  return std::string(n ? std::string("SIG") + n : std::to_string(sig)) + (d ? std::string(", ") + d : "");
}

void remove_temporaries(const util::SupervisionPage& p) {
  for (int i = 0; i < util::SupervisionPage::kTemps; ++i) {
    if (p.temp_used[i].load() != 1) continue;
    std::error_code ec;
    std::filesystem::remove_all(p.temp_path[i], ec);
  }
}

}  // namespace

std::optional<int> supervise(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--trusted-input") == 0) return std::nullopt;
  if (env_true("SCFM_TRUSTED_INPUT")) return std::nullopt;

  void* mem = mmap(nullptr, sizeof(util::SupervisionPage), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return std::nullopt;  // no isolation possible: run in-process
  auto* page = new (mem) util::SupervisionPage();
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) return std::nullopt;
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) std::_Exit(137);  // the supervisor is already gone
    util::attach_supervision_page(page);
    limit_memory();
    return std::nullopt;
  }

  // the supervisor: wait, watch, report
  g_child = child;
  // Passed on to the worker. A Ctrl-C from the terminal reaches both (one process group); sent to
  // scfm's pid alone (kill -INT) it must still stop the work.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  for (int s : {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) {
    struct sigaction before;
    if (sigaction(s, nullptr, &before) == 0 && before.sa_handler == SIG_IGN) continue;  // ignored by whoever started us
    sigaction(s, &sa, nullptr);
  }
  const double timeout = hdf5_timeout_s();
  bool hung = false;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (r < 0 && errno != EINTR) return 2;
    if (!hung && page->hdf5_depth.load() > 0 && page->hdf5_writing.load() == 0 &&
        (util::monotonic_ns() - page->hdf5_since_ns.load()) * 1e-9 > timeout) {
      hung = true;
      ::kill(child, SIGKILL);
    }
    const timespec ts{0, 50 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  const bool in_hdf5 = page->hdf5_depth.load() > 0;
  const std::string file = page->hdf5_file, object = page->hdf5_object;
  if (WIFSIGNALED(status) || hung) remove_temporaries(*page);
  if (hung) {
    std::fprintf(stderr,
                 "scfm: %s: the HDF5 library hung while reading %s (no return for %g s); the file is damaged or "
                 "hostile (SCFM_HDF5_TIMEOUT sets the limit; --trusted-input reads in-process without one)\n",
                 file.c_str(), object.c_str(), timeout);
    return 3;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  const int sig = WTERMSIG(status);
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) return 128 + sig;  // asked to stop, not a crash
  if (in_hdf5 && sig != SIGKILL && page->hdf5_writing.load() != 0) {
    std::fprintf(stderr,
                 "scfm: %s: the HDF5 library crashed (%s) while writing %s after a failed write (is the disk full?); "
                 "the file there before, if any, is untouched\n",
                 file.c_str(), signal_name(sig).c_str(), object.c_str());
    return 3;
  }
  if (in_hdf5 && sig != SIGKILL) {
    std::fprintf(stderr, "scfm: %s: the HDF5 library crashed (%s) while reading %s; the file is damaged or hostile\n",
                 file.c_str(), signal_name(sig).c_str(), object.c_str());
    return 3;
  }
  if (sig == SIGKILL) {
    std::fprintf(stderr, "scfm: the worker process was killed (SIGKILL: out of memory, or killed from outside)\n");
    return 128 + sig;
  }
  std::fprintf(stderr, "scfm: internal error: the worker process died of %s\n", signal_name(sig).c_str());
  return 2;
}

}  // namespace scfm::runtime
