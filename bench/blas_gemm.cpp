// sgemm throughput of the BLAS LibTorch calls, under the OpenBLAS core scfm chooses.
//
//   build/bench/bench_blas_gemm                               # the core scfm picks (auto)
//   SCFM_BLAS_CORETYPE=Prescott build/bench/bench_blas_gemm   # OpenBLAS's fallback, for the ratio
//
// Counters: GFLOP/s (2 n^3 per multiply). The context lines name the core, the library and the
// threads. Threads: all usable cores, or SCFM_BENCH_THREADS.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>

#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"

namespace {

void set_flops(benchmark::State& state, int n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * static_cast<double>(n) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Straight through the loaded sgemm_ (row-major wrapper, no copies).
void BM_sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  for (auto _ : state) {
    scfm::runtime::sgemm_row_major(n, n, n, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, n);
}

// The same product as LibTorch does it (at::mm on contiguous float tensors -> sgemm_).
void BM_torch_mm(benchmark::State& state) {
  const int64_t n = state.range(0);
  at::Tensor a = at::randn({n, n});
  at::Tensor b = at::randn({n, n});
  for (auto _ : state) {
    at::Tensor c = at::mm(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  set_flops(state, static_cast<int>(n));
}

BENCHMARK(BM_sgemm)->Arg(256)->Arg(1024)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_torch_mm)->Arg(256)->Arg(1024)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  scfm::runtime::select_blas_core(argc, argv);
  const char* threads = std::getenv("SCFM_BENCH_THREADS");
  const int used = scfm::runtime::set_threads(threads != nullptr ? std::atoi(threads) : 0);

  const scfm::runtime::BlasInfo info = scfm::runtime::blas_info();
  benchmark::AddCustomContext("blas_core", info.core.empty() ? "(not OpenBLAS)" : info.core);
  benchmark::AddCustomContext("blas_chosen_by", info.chosen_by);
  benchmark::AddCustomContext("blas_library", info.library);
  benchmark::AddCustomContext("blas_backend", info.backend);
  benchmark::AddCustomContext("blas_verified", info.verified ? "yes" : "NO");
  benchmark::AddCustomContext("threads", std::to_string(used));

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
