// bench/io: reading .h5ad files (see bench/README.md for the driver script and numbers).
//
//   bench_io                          Google Benchmark: full read of the shipped pbmc3k file
//   bench_io stream FILE [BLOCK]      streams FILE's X in row blocks; prints one JSON line with
//                                     cells, nnz, seconds, cells/s, MB/s and peak RSS (MB)
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"

namespace {

std::string pbmc3k() { return std::string(SCFM_SOURCE_DIR) + "/data/pbmc3k.h5ad"; }

void BM_ReadH5adFull(benchmark::State& state) {
  const std::string path = pbmc3k();
  const double bytes = static_cast<double>(std::filesystem::file_size(path));
  int64_t cells = 0;
  for (auto _ : state) {
    scfm::io::AnnData a = scfm::io::read_h5ad(path);
    scfm::io::CsrMatrix x = a.matrix_csr();
    benchmark::DoNotOptimize(x.data.data());
    cells += x.n_rows;
  }
  state.counters["cells/s"] = benchmark::Counter(static_cast<double>(cells), benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e6,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReadH5adFull)->Unit(benchmark::kMillisecond);

void BM_StreamRows(benchmark::State& state) {
  const std::string path = pbmc3k();
  int64_t cells = 0;
  for (auto _ : state) {
    scfm::io::H5adMatrixReader reader(path);
    for (int64_t s = 0; s < reader.n_rows(); s += state.range(0)) {
      auto block = reader.read_rows(s, std::min<int64_t>(state.range(0), reader.n_rows() - s));
      benchmark::DoNotOptimize(block.data.data());
    }
    cells += reader.n_rows();
  }
  state.counters["cells/s"] = benchmark::Counter(static_cast<double>(cells), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamRows)->Arg(16)->Arg(160)->Unit(benchmark::kMillisecond);

int stream(const char* path, int64_t block) {
  auto t0 = std::chrono::steady_clock::now();
  scfm::io::H5adMatrixReader reader(path);
  int64_t nnz = 0;
  double checksum = 0;
  for (int64_t s = 0; s < reader.n_rows(); s += block) {
    auto b = reader.read_rows(s, std::min<int64_t>(block, reader.n_rows() - s));
    nnz += b.nnz();
    if (!b.data.empty()) checksum += b.data[0];
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  std::printf(
      "{\"cells\": %lld, \"nnz\": %lld, \"seconds\": %.4f, \"cells_per_s\": %.1f, \"MB_per_s\": %.1f, "
      "\"file_MB\": %.1f, \"peak_rss_MB\": %.1f, \"checksum\": %.3f}\n",
      static_cast<long long>(reader.n_rows()), static_cast<long long>(nnz), secs,
      static_cast<double>(reader.n_rows()) / secs, mb / secs, mb, static_cast<double>(ru.ru_maxrss) / 1024.0, checksum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "stream") == 0)
    return stream(argv[2], argc >= 4 ? std::atoll(argv[3]) : 10000);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
