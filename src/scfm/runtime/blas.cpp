#include "scfm/runtime/blas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SCFM_X86 1
#endif

#include "scfm/util/error.h"

namespace scfm::runtime {

namespace {

// Fortran sgemm_ with the two hidden string lengths gfortran passes (ignored by OpenBLAS's C
// interface, harmless to pass).
using SgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                         const float*, const int*, const float*, const int*, const float*, float*,
                         const int*, size_t, size_t);
using StringFn = char* (*)();
using IntFn = int (*)();

constexpr int kMaxExecs = 4;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool iequal(const std::string& a, const std::string& b) { return lower(a) == lower(b); }

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : fallback;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

void* blas_symbol(const char* name) { return dlsym(RTLD_DEFAULT, name); }

// A symbol of the OpenBLAS behind sgemm_: looked up from the library sgemm_ comes from and its
// dependencies, so an OpenBLAS loaded for LAPACK alone (libblas.so.3 being BLIS, say) is ignored.
void* openblas_symbol(const char* name) {
  static void* const handle = [] () -> void* {
    Dl_info info{};
    void* sgemm = blas_symbol("sgemm_");
    if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return nullptr;
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);  // kept open: it is loaded for good
  }();
  return handle != nullptr ? dlsym(handle, name) : nullptr;
}

SgemmFn sgemm_fn() {
  auto fn = reinterpret_cast<SgemmFn>(blas_symbol("sgemm_"));
  if (fn == nullptr)
    throw Error("BLAS: no sgemm_ symbol is loaded in this process (is libblas.so.3 linked?)");
  return fn;
}

std::string loaded_core() {
  auto fn = reinterpret_cast<StringFn>(openblas_symbol("openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name != nullptr ? std::string(name) : "";
}

std::string file_of(void* symbol) {
  Dl_info info{};
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "";
  char resolved[4096];
  if (realpath(info.dli_fname, resolved) != nullptr) return resolved;
  return info.dli_fname;
}

// What select_blas_core decided, for blas_info().
struct State {
  bool selected = false;
  std::string chosen_by = "not selected";
  std::string note;
  std::vector<std::string> fallbacks;
  int execs = 0;
  int verified = -1;  // -1: not run yet
};

State& state() {
  static State s;
  return s;
}

// ---- CPU detection -------------------------------------------------------------------------

#ifdef SCFM_X86
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect_cpu() {
  CpuFeatures f;
#ifdef SCFM_X86
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf == 0) return f;
  __cpuid(0, eax, ebx, ecx, edx);
  char vendor[13];
  std::memcpy(vendor + 0, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  vendor[12] = '\0';
  f.vendor = vendor;

  __cpuid(1, eax, ebx, ecx, edx);
  unsigned base_family = (eax >> 8) & 0xf;
  unsigned base_model = (eax >> 4) & 0xf;
  f.stepping = static_cast<int>(eax & 0xf);
  f.family = static_cast<int>(base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family);
  f.model = static_cast<int>(base_family == 0x6 || base_family == 0xf
                                 ? base_model + (((eax >> 16) & 0xf) << 4)
                                 : base_model);
  f.sse3 = ecx & (1u << 0);
  f.ssse3 = ecx & (1u << 9);
  f.fma = ecx & (1u << 12);
  f.sse4_1 = ecx & (1u << 19);
  f.sse4_2 = ecx & (1u << 20);
  bool osxsave = ecx & (1u << 27);
  f.avx = ecx & (1u << 28);
  f.f16c = ecx & (1u << 29);
  f.hypervisor = ecx & (1u << 31);

  if (osxsave) {
    uint64_t xcr0 = read_xcr0();
    f.os_avx = (xcr0 & 0x6) == 0x6;           // SSE + AVX (YMM) state
    f.os_avx512 = (xcr0 & 0xe6) == 0xe6;      // + opmask, ZMM_Hi256, Hi16_ZMM
  }

  if (max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    unsigned max_sub = eax;
    f.avx2 = ebx & (1u << 5);
    f.avx512f = ebx & (1u << 16);
    f.avx512dq = ebx & (1u << 17);
    f.avx512cd = ebx & (1u << 28);
    f.avx512bw = ebx & (1u << 30);
    f.avx512vl = ebx & (1u << 31);
    f.avx512_vnni = ecx & (1u << 11);
    f.amx_bf16 = edx & (1u << 22);
    f.avx512_fp16 = edx & (1u << 23);
    f.amx_tile = edx & (1u << 24);
    f.amx_int8 = edx & (1u << 25);
    if (max_sub >= 1) {
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      f.avx512_bf16 = eax & (1u << 5);
    }
  }

  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    unsigned regs[12];
    for (unsigned i = 0; i < 3; ++i)
      __cpuid(0x80000002 + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
    char brand[49];
    std::memcpy(brand, regs, 48);
    brand[48] = '\0';
    std::string b = brand;  // stops at the first NUL
    const auto first = b.find_first_not_of(' ');
    f.brand = first == std::string::npos ? "" : b.substr(first, b.find_last_not_of(' ') - first + 1);
  }
#endif
  return f;
}

// ---- verification --------------------------------------------------------------------------

// Deterministic values in [-1, 1).
void fill(std::vector<float>& v, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 12345u;
  for (float& e : v) {
    x = x * 1664525u + 1013904223u;
    e = static_cast<float>((x >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

// One column-major sgemm of op(A) (m x k) times B (k x n) with alpha and beta, checked against a
// double-precision loop.
bool check_one(SgemmFn sgemm, bool trans_a) {
  const int m = 64, k = 48, n = 80;
  const float alpha = 1.5f, beta = -0.5f;
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n),
      c(static_cast<size_t>(m) * n);
  fill(a, trans_a ? 11 : 7);
  fill(b, 3);
  fill(c, 5);
  const std::vector<float> c0 = c;
  const int lda = trans_a ? k : m;
  auto a_at = [&](int i, int p) -> double {  // op(A)(i, p)
    return trans_a ? a[static_cast<size_t>(i) * k + p] : a[static_cast<size_t>(p) * m + i];
  };
  const char* ta = trans_a ? "T" : "N";
  sgemm(ta, "N", &m, &n, &k, &alpha, a.data(), &lda, b.data(), &k, &beta, c.data(), &m, 1, 1);
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      double sum = 0.0, bound = 0.0;
      for (int p = 0; p < k; ++p) {
        double term = a_at(i, p) * b[static_cast<size_t>(j) * k + p];
        sum += term;
        bound += std::fabs(term);
      }
      double ref = alpha * sum + beta * c0[static_cast<size_t>(j) * m + i];
      double scale = std::fabs(alpha) * bound + std::fabs(beta * c0[static_cast<size_t>(j) * m + i]);
      double got = c[static_cast<size_t>(j) * m + i];
      if (!std::isfinite(got) || std::fabs(got - ref) > 1e-4 * scale + 1e-30) return false;
    }
  }
  return true;
}

// ---- choosing and re-executing -------------------------------------------------------------

sigjmp_buf g_sigill_jump;

extern "C" void on_sigill(int) { siglongjmp(g_sigill_jump, 1); }

// verify_blas() with SIGILL turned into a failure: kernels a CPU cannot run die with SIGILL.
// After a SIGILL the BLAS may hold locks, so the caller must re-execute or exit.
bool guarded_verify(std::string* why, bool* crashed) {
  struct sigaction action {}, previous {};
  action.sa_handler = on_sigill;
  sigemptyset(&action.sa_mask);
  sigaction(SIGILL, &action, &previous);
  bool ok = false;
  *crashed = false;
  if (sigsetjmp(g_sigill_jump, 1) == 0) {
    ok = verify_blas();
    if (!ok) *why = "wrong sgemm result";
  } else {
    *crashed = true;
    *why = "illegal instruction";
  }
  sigaction(SIGILL, &previous, nullptr);
  return ok;
}

// True when the command line asks for --help/-h/--version, which print text and exit.
bool only_prints_usage(int argc, char** argv) {
  if (argv == nullptr) return false;
  for (int i = 1; i < argc && argv[i] != nullptr; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-h" || arg == "--version") return true;
  }
  return false;
}

// Sets the environment for the next image and replaces this one. Returns only on failure.
void reexec(char** argv, const std::string& core, const std::string& chosen_by,
            const std::string& note, const std::vector<std::string>& fallbacks, int execs) {
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("SCFM_BLAS_CHECKED", core.c_str(), 1);
  setenv("SCFM_BLAS_CHOSEN_BY", chosen_by.c_str(), 1);
  setenv("SCFM_BLAS_NOTE", note.c_str(), 1);
  setenv("SCFM_BLAS_FALLBACK", join(fallbacks, ';').c_str(), 1);
  setenv("SCFM_BLAS_EXECS", std::to_string(execs + 1).c_str(), 1);
  if (argv == nullptr || argv[0] == nullptr) return;
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  std::cerr << "scfm: warning: could not re-execute to select BLAS core " << core << ": "
            << std::strerror(errno) << "\n";
}

// Marks the decision in the environment so that children (and blas_info) see it.
void record_env(const std::string& core, const std::string& chosen_by, const std::string& note,
                const std::vector<std::string>& fallbacks, int execs) {
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv("SCFM_BLAS_CHECKED", core.c_str(), 1);
  setenv("SCFM_BLAS_CHOSEN_BY", chosen_by.c_str(), 1);
  setenv("SCFM_BLAS_NOTE", note.c_str(), 1);
  setenv("SCFM_BLAS_FALLBACK", join(fallbacks, ';').c_str(), 1);
  setenv("SCFM_BLAS_EXECS", std::to_string(execs).c_str(), 1);
}

}  // namespace

bool CpuFeatures::has_avx512_skx() const {
  return avx512f && avx512bw && avx512vl && avx512dq && avx512cd && os_avx512 && has_avx2_fma();
}

bool CpuFeatures::has_avx2_fma() const { return avx && avx2 && fma && os_avx; }

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu();
  return features;
}

std::vector<std::string> candidate_cores(const CpuFeatures& cpu) {
  std::vector<std::string> out;
  if (cpu.vendor.empty() || !cpu.sse3) return out;
  if (cpu.has_avx512_skx()) {
    if (cpu.avx512_bf16) out.push_back("Cooperlake");
    out.push_back("SkylakeX");
  }
  if (cpu.has_avx2_fma()) out.push_back("Haswell");
  out.push_back("Prescott");
  return out;
}

int core_tier(const std::string& core) {
  static const char* const tiers[4][16] = {
      {"katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
       "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3", "barcelona", "bobcat", "nano"},
      {"sandybridge", "bulldozer", "piledriver", "steamroller"},
      {"haswell", "zen", "excavator"},
      {"skylakex", "cooperlake", "sapphirerapids"}};
  const std::string name = lower(core);
  for (int t = 0; t < 4; ++t)
    for (const char* n : tiers[t])
      if (n != nullptr && name == n) return t;
  return -1;
}

std::string safer_core(const std::string& core) {
  const std::string name = lower(core);
  if (name == "sapphirerapids") return "Cooperlake";
  if (name == "cooperlake") return "SkylakeX";
  if (name == "prescott") return "";
  switch (core_tier(core)) {
    case 3: return "Haswell";
    default: return "Prescott";  // AVX2, AVX, other SSE and unknown names
  }
}

void select_blas_core(int argc, char** argv) {
  State& s = state();
  if (s.selected) return;
  s.selected = true;

  const std::string loaded = loaded_core();
  if (loaded.empty()) {  // not OpenBLAS (BLIS, reference BLAS, ...): nothing to choose
    s.chosen_by = "not OpenBLAS";
    return;
  }

  const std::string mode = env_or("SCFM_BLAS_CORETYPE");
  const std::string user = env_or("OPENBLAS_CORETYPE");
  const std::string checked = env_or("SCFM_BLAS_CHECKED");
  // Re-executed image, or a child of a process that already decided: the core was set by
  // select_blas_core and OPENBLAS_CORETYPE still says the same.
  const bool inherited = !checked.empty() && checked == user;

  std::string want;       // the core this process should run
  std::string chosen_by;  // who decided
  std::string note;
  std::vector<std::string> fallbacks;
  int execs = 0;

  if (inherited) {
    want = user;
    chosen_by = env_or("SCFM_BLAS_CHOSEN_BY", "auto");
    note = env_or("SCFM_BLAS_NOTE");
    fallbacks = split(env_or("SCFM_BLAS_FALLBACK"), ';');
    execs = std::atoi(env_or("SCFM_BLAS_EXECS", "0").c_str());
  } else if (lower(mode) == "none") {
    s.chosen_by = "none";
    s.note = "SCFM_BLAS_CORETYPE=none: OpenBLAS's own choice";
    return;  // verified lazily by blas_info()
  } else if (!mode.empty() && lower(mode) != "auto") {
    want = mode;
    chosen_by = "SCFM_BLAS_CORETYPE";
    note = "SCFM_BLAS_CORETYPE=" + mode;
  } else if (mode.empty() && !user.empty()) {
    // The user's own OPENBLAS_CORETYPE, applied by OpenBLAS at load: kept, never re-executed.
    want = user;
    chosen_by = "OPENBLAS_CORETYPE";
    note = "OPENBLAS_CORETYPE=" + user + " from the environment";
  } else {
    const std::vector<std::string> candidates = candidate_cores(cpu_features());
    chosen_by = "auto";
    if (candidates.empty()) {
      s.chosen_by = "auto";
      s.note = "no candidate core for this CPU: OpenBLAS's own choice";
      return;
    }
    want = candidates.front();
    if (iequal(loaded, want)) {
      note = "OpenBLAS's own choice " + loaded + " is the best core for this CPU";
    } else if (core_tier(loaded) == core_tier(want)) {
      note = "OpenBLAS's own choice " + loaded + " has the same instruction set as " + want +
             ": kept";
      want = loaded;
    } else {
      note = "OpenBLAS chose " + loaded + "; re-executed with OPENBLAS_CORETYPE=" + want;
    }
  }
  const bool automatic = chosen_by == "auto";
  const bool users_variable = chosen_by == "OPENBLAS_CORETYPE";

  // 1. Have OpenBLAS load `want`: it reads OPENBLAS_CORETYPE only at load, so re-execute
  // (a second LibTorch start-up, ~0.3 s: not worth it for --help and --version, which do no
  // BLAS work).
  if (!inherited && !users_variable && !iequal(loaded, want) && only_prints_usage(argc, argv)) {
    s.chosen_by = chosen_by;
    s.note = note + " (not applied: --help/--version)";
    return;
  }
  if (!inherited && !users_variable && !iequal(loaded, want)) {
    reexec(argv, want, chosen_by, note, fallbacks, execs);
    note += " (re-exec failed: running " + loaded + ")";  // reexec returns only on failure
    want = loaded;
  }

  // 2. Check what runs now: the core asked for, computing correctly.
  std::string why;
  bool crashed = false;
  bool ok = guarded_verify(&why, &crashed);
  for (const std::string& core : split(env_or("SCFM_BLAS_TEST_FAIL"), ','))
    if (ok && iequal(core, loaded)) {  // tests of the fallback chain: pretend this core is broken
      ok = false;
      why = "failed on purpose (SCFM_BLAS_TEST_FAIL)";
    }
  const bool verified = ok;
  if (ok && !iequal(loaded, want)) {
    ok = false;
    why = "not a core this OpenBLAS has; it runs " + loaded;
  }
  if (!ok) {
    fallbacks.push_back(want + ": " + why);
    const std::string next = automatic ? safer_core(want) : "";
    if (!next.empty() && execs + 1 < kMaxExecs) {
      note = "OpenBLAS core " + want + " failed: " + why + "; re-executed with " + next;
      reexec(argv, next, chosen_by, note, fallbacks, execs);
    }
    if (crashed) {
      std::cerr << "scfm: error: OpenBLAS core " << want
                << " cannot run on this CPU (illegal instruction); unset OPENBLAS_CORETYPE or set "
                   "SCFM_BLAS_CORETYPE=auto\n";
      std::exit(1);
    }
    std::cerr << "scfm: warning: OpenBLAS core " << want << " (from " << chosen_by
              << "): " << why << "\n";
  }

  // 3. Record the decision for blas_info() and for child processes (which then skip all this).
  if (!users_variable) record_env(loaded, chosen_by, note, fallbacks, execs);
  s.chosen_by = chosen_by;
  s.note = note;
  s.fallbacks = fallbacks;
  s.execs = execs;
  s.verified = verified ? 1 : 0;
}

BlasInfo blas_info() {
  BlasInfo info;
  void* sgemm = blas_symbol("sgemm_");
  if (sgemm == nullptr) throw Error("BLAS: no sgemm_ symbol is loaded in this process");
  info.library = file_of(sgemm);
  void* config = openblas_symbol("openblas_get_config");
  info.is_openblas = config != nullptr;
  if (info.is_openblas) {
    info.backend = file_of(config);
    const char* text = reinterpret_cast<StringFn>(config)();
    info.config = text != nullptr ? text : "";
    std::istringstream words(info.config);
    std::string first, second;
    words >> first >> second;
    if (first == "OpenBLAS") info.version = second;
    info.core = loaded_core();
    if (auto par = reinterpret_cast<IntFn>(openblas_symbol("openblas_get_parallel"))) {
      int p = par();
      info.parallel = p == 0 ? "sequential" : p == 1 ? "pthreads" : p == 2 ? "openmp" : "unknown";
    }
    if (auto threads = reinterpret_cast<IntFn>(openblas_symbol("openblas_get_num_threads")))
      info.blas_threads = threads();
  }
  info.requested_core = env_or("OPENBLAS_CORETYPE");
  State& s = state();
  if (s.verified < 0) s.verified = verify_blas() ? 1 : 0;
  info.chosen_by = s.chosen_by;
  info.note = s.note;
  info.fallbacks = s.fallbacks;
  info.execs = s.execs;
  info.verified = s.verified == 1;
  return info;
}

bool verify_blas() {
  SgemmFn sgemm = sgemm_fn();
  return check_one(sgemm, false) && check_one(sgemm, true);
}

void sgemm_row_major(int n, int m, int k, const float* a, const float* b, float* c) {
  if (n < 0 || m < 0 || k < 0) throw Error("sgemm: negative matrix size");
  if (n == 0 || m == 0) return;
  SgemmFn sgemm = sgemm_fn();
  const float one = 1.0f, zero = 0.0f;
  const int lda = std::max(k, 1), ldb = std::max(m, 1), ldc = std::max(m, 1);
  // Row-major C = A B is column-major C^T = B^T A^T.
  sgemm("N", "N", &m, &n, &k, &one, b, &ldb, a, &lda, &zero, c, &ldc, 1, 1);
}

double measure_sgemm_gflops(int n, double min_seconds) {
  if (n <= 0) throw Error("measure_sgemm_gflops: n must be positive");
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  fill(a, 1);
  fill(b, 2);
  sgemm_row_major(n, n, n, a.data(), b.data(), c.data());  // warm-up: threads, buffers
  const double flops = 2.0 * n * n * static_cast<double>(n);
  double best = 0.0;
  for (int round = 0; round < 3; ++round) {
    int reps = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0.0;
    do {
      sgemm_row_major(n, n, n, a.data(), b.data(), c.data());
      ++reps;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < min_seconds / 3);
    best = std::max(best, flops * reps / elapsed / 1e9);
  }
  return best;
}

}  // namespace scfm::runtime
