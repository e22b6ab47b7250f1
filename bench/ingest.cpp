// bench/ingest: ingest + normalize_total + log1p + HVG on simulated cells (bench/ingest.sh drives
// it and runs the Python baseline in the same run; numbers in bench/README.md).
//
//   bench_ingest make REF.h5ad N OUT.h5ad [SEED]
//       simulates N cells like REF (sim/: pbmc3k's 8 cell types) into OUT.h5ad; one JSON line.
//   bench_ingest run IN.h5ad WORK_DIR [N_TOP] [THREADS]
//       1. ingest: IN.h5ad -> WORK_DIR/store (store::ingest, vocab = IN's genes, blocks of 4096 rows,
//          shards of 20,000 cells)
//       2. one pass over the store (mmap), THREADS threads over cell ranges, per 4096-cell block:
//          pp::normalize_total(target 1e4) and pp::log1p on a CSR copy of the rows, and the
//          per-gene sums of expm1(X) and expm1(X)^2 that scanpy's seurat flavor needs
//       3. seurat HVG from those moments (scanpy's formulas: log1p(mean), log(var/mean), 20
//          equal-width mean bins, z-score, top N_TOP (default 2000) by dispersions_norm)
//       Prints one JSON line (seconds per step, cells/s, peak RSS) and writes the selected genes to
//       WORK_DIR/scfm_hvg.txt. The store pages a block read are released (madvise DONTNEED) once
//       the block is copied, so the mapped store does not accumulate in the resident set.
//   bench_ingest read IN.h5ad
//       only reads X with io::H5adMatrixReader in blocks of 4096 rows, one thread, nothing else: the
//       floor under `run`'s ingest (which reads the same blocks). One JSON line.
//   bench_ingest direct IN.h5ad WORK_DIR [N_TOP]
//       the same normalize_total + log1p + HVG streamed straight from IN.h5ad (no store), the
//       reader one block ahead of the compute thread: what Python's backed baseline does.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/pp/normalize.h"
#include "scfm/sim/model.h"
#include "scfm/sim/simulate.h"
#include "scfm/sim/write.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"

using namespace scfm;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

int make(const std::string& ref_path, int64_t n, const std::string& out, uint64_t seed) {
  auto t0 = std::chrono::steady_clock::now();
  io::AnnData ref = io::read_h5ad(ref_path);
  sim::SimModel model = sim::fit_model(ref.matrix_csr(), io::column_strings(ref.obs(), "cell_type"), ref.var_names());
  sim::SimulateOptions o;
  o.n_cells = n;
  o.seed = seed;
  sim::SimDesign d = sim::make_design(std::move(model), o);
  sim::WriteOptions w;
  w.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  w.provenance = {{"reference", ref_path}, {"label_col", "cell_type"}};
  sim::write_simulated_h5ad(d, out, w);
  std::printf("{\"cells\": %lld, \"seconds\": %.2f, \"file_MB\": %.1f}\n", static_cast<long long>(n),
              seconds_since(t0), static_cast<double>(std::filesystem::file_size(out)) / 1e6);
  return 0;
}

struct Moments {
  std::vector<double> sum, sum_sq;
};

std::vector<bool> seurat_hvg(std::vector<double> mean, const std::vector<double>& var, int64_t n_top);

// normalize_total(1e4) + log1p on `x` (pp/), and scanpy's seurat moments: per-gene sums of
// expm1(X) and expm1(X)^2. expm1(log1p(y)) is y, so the sums are taken on the normalised values
// before log1p (scanpy recomputes them from the float32 log values: a ~1e-7 relative difference,
// which bench/ingest.sh checks does not change the selected genes).
void process_block(io::CsrMatrix& x, Moments& m) {
  pp::NormalizeTotalOptions no;
  no.target_sum = 1e4;
  pp::normalize_total(x, no);
  for (int64_t k = 0; k < x.nnz(); ++k) {
    const double v = x.data[k];
    m.sum[x.indices[k]] += v;
    m.sum_sq[x.indices[k]] += v * v;
  }
  pp::log1p(x);
}

// Per-gene sums of expm1(log1p(normalised)) over cells [begin, end), releasing shard pages.
void accumulate(const store::CellStore& s, int64_t begin, int64_t end, int64_t n_genes, Moments& m) {
  m.sum.assign(n_genes, 0);
  m.sum_sq.assign(n_genes, 0);
  const int64_t block = 4096;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  // the pages wholly inside [lo, hi): the ids and the values a block read, dropped after use
  auto release = [page](uintptr_t lo, uintptr_t hi) {
    const uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page;
    if (b > a) madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
  };
  io::CsrMatrix x;
  for (int64_t start = begin; start < end; start += block) {
    const int64_t count = std::min(block, end - start);
    x.n_rows = count;
    x.n_cols = n_genes;
    x.indptr.assign(1, 0);
    x.indices.clear();
    x.data.clear();
    int64_t shard = s.shard_of(start);
    store::CellRow first = s.row(start);
    for (int64_t i = start; i < start + count; ++i) {
      store::CellRow r = s.row(i);
      if (s.shard_of(i) != shard) {  // a block across two shards: release the first one's part
        release(reinterpret_cast<uintptr_t>(first.ids), reinterpret_cast<uintptr_t>(s.row(i - 1).ids + s.row(i - 1).n));
        release(reinterpret_cast<uintptr_t>(first.values),
                reinterpret_cast<uintptr_t>(s.row(i - 1).values + s.row(i - 1).n));
        shard = s.shard_of(i);
        first = r;
      }
      x.indices.insert(x.indices.end(), r.ids, r.ids + r.n);
      x.data.insert(x.data.end(), r.values, r.values + r.n);
      x.indptr.push_back(static_cast<int64_t>(x.indices.size()));
    }
    store::CellRow last = s.row(start + count - 1);
    release(reinterpret_cast<uintptr_t>(first.ids), reinterpret_cast<uintptr_t>(last.ids + last.n));
    release(reinterpret_cast<uintptr_t>(first.values), reinterpret_cast<uintptr_t>(last.values + last.n));
    process_block(x, m);
  }
}

// Streams IN.h5ad's X with io::H5adMatrixReader (the next block is read while this one is
// processed) through the same per-block steps, without a store: the work of Python's backed mode.
int pp_direct(const std::string& in, const std::string& work, int64_t n_top) {
  std::filesystem::create_directories(work);
  auto t0 = std::chrono::steady_clock::now();
  io::H5adReadOptions lazy;
  lazy.lazy_matrix_elements = 0;
  std::vector<std::string> genes = io::read_h5ad(in, lazy).var_names();
  io::H5adMatrixReader reader(in);
  const int64_t n = reader.n_rows(), n_genes = reader.n_cols(), block = 10000;
  Moments m;
  m.sum.assign(n_genes, 0);
  m.sum_sq.assign(n_genes, 0);
  io::CsrMatrix cur = reader.read_rows(0, std::min(block, n));
  for (int64_t start = 0; start < n; start += block) {
    std::thread worker([&] { process_block(cur, m); });
    io::CsrMatrix next;
    const int64_t next_start = start + block;
    std::exception_ptr error;
    try {
      if (next_start < n) next = reader.read_rows(next_start, std::min(block, n - next_start));
    } catch (...) {
      error = std::current_exception();
    }
    worker.join();
    if (error) std::rethrow_exception(error);
    cur = std::move(next);
  }
  std::vector<double> mean(n_genes), var(n_genes);
  for (int64_t g = 0; g < n_genes; ++g) {
    mean[g] = m.sum[g] / n;
    var[g] = (m.sum_sq[g] / n - mean[g] * mean[g]) * n / (n - 1.0);
  }
  std::vector<bool> hv = seurat_hvg(mean, var, n_top);
  const double total = seconds_since(t0);
  std::ofstream f(work + "/scfm_direct_hvg.txt");
  for (int64_t g = 0; g < n_genes; ++g)
    if (hv[g]) f << genes[g] << "\n";
  std::printf("{\"cells\": %lld, \"total_s\": %.3f, \"cells_per_s\": %.1f, \"peak_rss_MB\": %.1f}\n",
              static_cast<long long>(n), total, static_cast<double>(n) / total, peak_rss_mb());
  return 0;
}

// scanpy 1.9 seurat flavor from per-gene mean and variance (n-1); returns the selected genes.
std::vector<bool> seurat_hvg(std::vector<double> mean, const std::vector<double>& var, int64_t n_top) {
  const size_t n = mean.size();
  std::vector<double> disp(n), norm(n, std::nan(""));
  for (size_t g = 0; g < n; ++g) {
    if (mean[g] == 0) mean[g] = 1e-12;
    double d = var[g] / mean[g];
    disp[g] = d == 0 ? std::nan("") : std::log(d);
    mean[g] = std::log1p(mean[g]);
  }
  // pd.cut(means, 20): equal-width bins over [min, max], right-closed, min included
  const int n_bins = 20;
  const double mn = *std::min_element(mean.begin(), mean.end()), mx = *std::max_element(mean.begin(), mean.end());
  const double step = (mx - mn) / n_bins;
  std::vector<int> bin(n);
  for (size_t g = 0; g < n; ++g) {
    int b = 0;
    for (int j = 1; j < n_bins; ++j)
      if (mn + j * step < mean[g]) b = j;
    bin[g] = b;
  }
  std::vector<double> s(n_bins, 0), s2(n_bins, 0), c(n_bins, 0);
  for (size_t g = 0; g < n; ++g)
    if (!std::isnan(disp[g])) {
      s[bin[g]] += disp[g];
      c[bin[g]] += 1;
    }
  for (int b = 0; b < n_bins; ++b) s[b] = c[b] > 0 ? s[b] / c[b] : std::nan("");
  for (size_t g = 0; g < n; ++g)
    if (!std::isnan(disp[g])) s2[bin[g]] += (disp[g] - s[bin[g]]) * (disp[g] - s[bin[g]]);
  for (size_t g = 0; g < n; ++g) {
    const int b = bin[g];
    double mu = s[b], sd = c[b] > 1 ? std::sqrt(s2[b] / (c[b] - 1)) : std::nan("");
    if (std::isnan(sd)) {  // scanpy: one gene in the bin -> sd = mean, mean = 0
      sd = mu;
      mu = 0;
    }
    norm[g] = (disp[g] - mu) / sd;
  }
  std::vector<double> sorted;
  for (double v : norm)
    if (!std::isnan(v)) sorted.push_back(v);
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  const int64_t k = std::min<int64_t>(n_top, static_cast<int64_t>(sorted.size()));
  const double cut = sorted[k - 1];
  std::vector<bool> hv(n);
  for (size_t g = 0; g < n; ++g) hv[g] = (std::isnan(norm[g]) ? 0.0 : norm[g]) >= cut;
  return hv;
}

int read_only(const std::string& in) {
  auto t0 = std::chrono::steady_clock::now();
  io::H5adMatrixReader reader(in);
  const int64_t n = reader.n_rows(), block = 4096;
  int64_t nnz = 0;
  for (int64_t start = 0; start < n; start += block) nnz += reader.read_rows(start, std::min(block, n - start)).nnz();
  const double s = seconds_since(t0);
  std::printf("{\"cells\": %lld, \"nnz\": %lld, \"read_s\": %.3f, \"cells_per_s\": %.1f, \"GB_per_s\": %.2f}\n",
              static_cast<long long>(n), static_cast<long long>(nnz), s, static_cast<double>(n) / s,
              static_cast<double>(nnz) * 8 / s / 1e9);
  return 0;
}

int run(const std::string& in, const std::string& work, int64_t n_top, int threads) {
  std::filesystem::create_directories(work);
  const std::string store_path = work + "/store";
  std::filesystem::remove_all(store_path);
  auto t0 = std::chrono::steady_clock::now();
  // 1. ingest
  io::H5adReadOptions lazy;
  lazy.lazy_matrix_elements = 0;
  std::vector<std::string> genes = io::read_h5ad(in, lazy).var_names();
  io::Vocab vocab = io::Vocab::build({genes});
  store::reuse_freed_memory();  // as `scfm ingest`
  store::IngestOptions io_opt;
  io_opt.shard_cells = 20000;  // the writer buffers one shard: ~150 MB at ~950 non-zeros per cell
  store::IngestReport rep = store::ingest({in}, vocab, store_path, io_opt);
  const double t_ingest = seconds_since(t0);
  const double rss_ingest = peak_rss_mb();
  // 2. normalize_total + log1p + moments, one pass over the store
  auto t1 = std::chrono::steady_clock::now();
  store::CellStore s = store::CellStore::open(store_path);
  const int64_t n = s.n_cells(), n_genes = static_cast<int64_t>(genes.size());
  std::vector<Moments> parts(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    const int64_t b = n * t / threads, e = n * (t + 1) / threads;
    pool.emplace_back([&, t, b, e] { accumulate(s, b, e, n_genes, parts[t]); });
  }
  for (auto& th : pool) th.join();
  std::vector<double> mean(n_genes, 0), var(n_genes, 0);
  for (int64_t g = 0; g < n_genes; ++g) {
    double su = 0, sq = 0;
    for (const auto& p : parts) {
      su += p.sum[g];
      sq += p.sum_sq[g];
    }
    mean[g] = su / n;
    var[g] = (sq / n - mean[g] * mean[g]) * n / (n - 1.0);  // scanpy's _get_mean_var
  }
  const double t_pp = seconds_since(t1);
  // 3. HVG
  auto t2 = std::chrono::steady_clock::now();
  std::vector<bool> hv = seurat_hvg(mean, var, n_top);
  const double t_hvg = seconds_since(t2);
  const double total = seconds_since(t0);
  std::ofstream f(work + "/scfm_hvg.txt");
  int64_t n_hv = 0;
  for (int64_t g = 0; g < n_genes; ++g)
    if (hv[g]) {
      f << genes[g] << "\n";
      ++n_hv;
    }
  std::printf(
      "{\"cells\": %lld, \"nnz\": %lld, \"ingest_s\": %.3f, \"pp_s\": %.3f, \"hvg_s\": %.4f, \"total_s\": %.3f, "
      "\"cells_per_s\": %.1f, \"n_hvg\": %lld, \"threads\": %d, \"ingest_peak_rss_MB\": %.1f, \"peak_rss_MB\": %.1f}\n",
      static_cast<long long>(n), static_cast<long long>(s.nnz()), t_ingest, t_pp, t_hvg, total,
      static_cast<double>(n) / total, static_cast<long long>(n_hv), threads, rss_ingest, peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "make" && argc >= 5)
      return make(argv[2], std::stoll(argv[3]), argv[4], argc > 5 ? std::stoull(argv[5]) : 1);
    if (mode == "run" && argc >= 4)
      return run(argv[2], argv[3], argc > 4 ? std::stoll(argv[4]) : 2000,
                 argc > 5 ? std::stoi(argv[5]) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    if (mode == "read" && argc >= 3) return read_only(argv[2]);
    if (mode == "direct" && argc >= 4) return pp_direct(argv[2], argv[3], argc > 4 ? std::stoll(argv[4]) : 2000);
    std::fprintf(stderr,
                 "usage: bench_ingest make REF.h5ad N OUT.h5ad [SEED] | run IN.h5ad WORK_DIR [N_TOP] [THREADS] | "
                 "read IN.h5ad | direct IN.h5ad WORK_DIR [N_TOP]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ingest: %s\n", e.what());
    return 1;
  }
}
