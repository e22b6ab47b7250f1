// The BLAS that LibTorch calls: which library is loaded, which OpenBLAS kernels it runs, and
// whether they compute correctly on this CPU.
//
// Debian's OpenBLAS is built with DYNAMIC_ARCH: it carries kernels for many CPUs and picks one
// set ("core") once, while the library is loaded, before main(). Its detection misses CPUs newer
// than the library (0.3.21 falls back to SSE3 "Prescott" kernels on some AVX-512 Xeons, 4-5x
// slower), and the only way to choose is the environment variable OPENBLAS_CORETYPE read at load
// time. select_blas_core() therefore sets that variable and, when the core already loaded is
// not the one wanted, re-executes the program once. See docs/blas.md for the measurements.
//
// Environment:
//   SCFM_BLAS_CORETYPE=auto     choose from the CPU's features (overrides OPENBLAS_CORETYPE)
//   SCFM_BLAS_CORETYPE=<name>   use OpenBLAS core <name> (e.g. Haswell, SkylakeX)
//   SCFM_BLAS_CORETYPE=none     leave OpenBLAS alone: no detection, no re-exec
//   OPENBLAS_CORETYPE=<name>    (SCFM_BLAS_CORETYPE unset) honoured as the user's choice
//   neither set                 same as auto
//   SCFM_BLAS_TEST_FAIL=a,b     (tests only) treat cores a and b as failing their check
// select_blas_core() also sets SCFM_BLAS_CHECKED=<core> (and SCFM_BLAS_CHOSEN_BY, _NOTE, _FALLBACK,
// _EXECS) for the re-executed image. Child processes inherit them and so skip the work; a child
// whose OPENBLAS_CORETYPE no longer equals SCFM_BLAS_CHECKED decides afresh.
//
// No LibTorch headers here: cli/ and io/ include this file.
#pragma once

#include <string>
#include <vector>

namespace scfm::runtime {

// What the CPU can run, from cpuid and XGETBV (so a feature counts only when the OS also saves
// its registers). All false on a CPU that is not x86-64.
struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ... ("" when not x86)
  std::string brand;   // "Intel(R) Xeon(R) ...", from cpuid leaves 0x80000002..4
  int family = 0;      // display family (base + extended)
  int model = 0;       // display model (base + extended << 4)
  int stepping = 0;
  bool hypervisor = false;
  bool sse3 = false, ssse3 = false, sse4_1 = false, sse4_2 = false;
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512cd = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
  bool os_avx = false;     // XCR0 has SSE+AVX state
  bool os_avx512 = false;  // XCR0 also has opmask + ZMM state

  // AVX-512 F, BW, VL, DQ and CD with OS support: what OpenBLAS's SkylakeX kernels need.
  bool has_avx512_skx() const;
  // AVX2 + FMA with OS support: what OpenBLAS's Haswell kernels need.
  bool has_avx2_fma() const;
};

// The features of the CPU this process runs on (computed once, then cached).
const CpuFeatures& cpu_features();

// The OpenBLAS cores that suit `cpu`, fastest first, safest (Prescott) last; empty when not x86.
// Only cores Debian's OpenBLAS 0.3.21 knows and that were measured (docs/blas.md) appear:
// avx512_bf16 -> Cooperlake, SkylakeX, Haswell, Prescott; AVX-512 -> SkylakeX, Haswell, Prescott;
// AVX2+FMA -> Haswell, Prescott; otherwise Prescott.
std::vector<std::string> candidate_cores(const CpuFeatures& cpu);

// The next safer core after `core` in the chain Cooperlake -> SkylakeX -> Haswell -> Prescott
// (case-insensitive; other names map by their instruction-set tier). "" after Prescott.
std::string safer_core(const std::string& core);

// Instruction-set tier of an OpenBLAS core name: 0 SSE (Prescott, Nehalem, ...), 1 AVX
// (Sandybridge, Bulldozer, ...), 2 AVX2 (Haswell, Zen, ...), 3 AVX-512 (SkylakeX, Cooperlake,
// SapphireRapids); -1 when unknown.
int core_tier(const std::string& core);

// Call first thing in main(), before anything computes. Decides the OpenBLAS core as described
// at the top of this file; when the core loaded differs from the one decided, sets
// OPENBLAS_CORETYPE and re-executes /proc/self/exe with the same argv (and never returns);
// except when argv holds --help, -h or --version (no BLAS work follows: the ~0.3 s of a second
// LibTorch start-up is skipped, and blas_info().note says so). In the
// re-executed image it checks that OpenBLAS runs the core asked for and that a small sgemm is
// correct (verify_blas); when an automatically chosen core fails, it re-executes with the next
// safer core (at most 4 executions in all), and records that. A core the user named is kept even
// if it fails, with one warning on stderr. Never throws; does nothing when the BLAS is not
// OpenBLAS. Calling it again in the same process does nothing.
void select_blas_core(int argc, char** argv);

struct BlasInfo {
  std::string library;         // file that sgemm_ resolves to (e.g. .../libblas.so.3)
  std::string backend;         // file that holds openblas_get_config ("" when not OpenBLAS)
  bool is_openblas = false;
  std::string config;          // openblas_get_config(), e.g. "OpenBLAS 0.3.21 ... DYNAMIC_ARCH ..."
  std::string version;         // "0.3.21", parsed from config
  std::string core;            // openblas_get_corename(): the kernels in use
  std::string requested_core;  // OPENBLAS_CORETYPE as seen by this process ("" when unset)
  std::string parallel;        // "sequential", "pthreads" or "openmp" (openblas_get_parallel)
  int blas_threads = 0;        // openblas_get_num_threads()
  std::string chosen_by;       // "auto", "SCFM_BLAS_CORETYPE",
                               // "OPENBLAS_CORETYPE", "none", "not OpenBLAS", "not selected"
  std::string note;            // one line on how the core came to be, for people
  std::vector<std::string> fallbacks;  // cores that were tried and rejected, with the reason
  int execs = 0;               // re-executions select_blas_core made to get here
  bool verified = false;       // verify_blas() passed in this process
};

// What is loaded and how it was chosen. Runs verify_blas() on the first call when
// select_blas_core() has not. Throws scfm::Error when no sgemm_ is loaded at all.
BlasInfo blas_info();

// Multiplies two small matrices (64x48 by 48x80, both NN and TN, alpha and beta not 1/0)
// through the loaded sgemm_ and compares with a double-precision loop: true when every element is
// within 1e-4 of the sum of |a||b| terms behind it. Throws scfm::Error when no sgemm_ is loaded.
bool verify_blas();

// C = A * B through the loaded sgemm_ for row-major float n x k and k x m matrices.
// Throws scfm::Error when no sgemm_ is loaded.
void sgemm_row_major(int n, int m, int k, const float* a, const float* b, float* c);

// sgemm throughput: repeats an n x n x n sgemm for at least `min_seconds` (after one warm-up)
// and returns the best GFLOP/s over a few rounds, on the threads BLAS currently uses.
double measure_sgemm_gflops(int n, double min_seconds = 0.05);

}  // namespace scfm::runtime
