// bench/embed: inference speed of `scfm embed`'s model forward, against python3-torch running the
// ORIGINAL modules on the very same tokens (bench/embed.sh drives both sides).
//
//   bench_embed --model DIR --in CELLS.h5ad --tokens OUT.pt [--max-length L] [--batch B]
//               [--threads N] [--reps R]
//
// Tokenises the cells of CELLS.h5ad that have at least L - 1 matched genes (so that every batch
// is exactly L tokens: the size the issue names) the way `scfm embed` does (tasks/cell_input.h),
// writes the batches and scfm's embeddings to OUT.pt (a torch.save state dict: genes.i, values.i,
// padding.i, emb.i), then times the eval-mode forward over all batches (fastest of R runs after a
// warm-up). Also times one sgemm of the model's width on the same threads, so the achieved
// GFLOP/s can be put against what the BLAS reaches here. Prints one JSON line.
#include <ATen/Parallel.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/factory.h"
#include "scfm/runtime/allocator.h"
#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"
#include "scfm/tasks/cell_input.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
  scfm::runtime::select_blas_core(argc, argv);
  scfm::runtime::keep_freed_memory();
  std::string model_dir, input, tokens_out;
  int64_t max_len = 513, batch = 64, max_cells = 256;
  int threads = 2, reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_embed: %s needs a value\n", s.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (s == "--model") model_dir = v;
    else if (s == "--in") input = v;
    else if (s == "--tokens") tokens_out = v;
    else if (s == "--max-length") max_len = std::atol(v);
    else if (s == "--batch") batch = std::atol(v);
    else if (s == "--cells") max_cells = std::atol(v);
    else if (s == "--threads") threads = std::atoi(v);
    else if (s == "--reps") reps = std::atoi(v);
    else {
      std::fprintf(stderr, "bench_embed: unknown option %s\n", s.c_str());
      return 2;
    }
  }
  scfm::runtime::set_threads(threads);
  try {
    auto model = scfm::model::load_pretrain_model(model_dir);
    const auto conv = scfm::model::input_conventions(model->args());
    const auto vocab = scfm::io::Vocab::load(model_dir + "/vocab.json");
    scfm::io::H5adReadOptions ro;
    ro.lazy_matrix_elements = 0;
    const auto meta = scfm::io::read_h5ad(input, ro);
    const auto match = scfm::io::match_genes(vocab, meta, "");
    scfm::io::H5adMatrixReader reader(input, {});
    const scfm::io::CsrMatrix x = reader.read_rows(0, reader.n_rows());
    std::vector<int64_t> cells;
    for (int64_t r = 0; r < x.n_rows && static_cast<int64_t>(cells.size()) < max_cells; ++r) {
      int64_t n = 0;
      for (int64_t k = x.indptr[r]; k < x.indptr[r + 1]; ++k) n += match.var_to_id[x.indices[k]] >= 0 && x.data[k] != 0;
      if (n >= max_len - 1) cells.push_back(r);
    }
    if (cells.empty()) {
      std::fprintf(stderr, "bench_embed: no cell of %s has %lld matched genes\n", input.c_str(),
                   static_cast<long long>(max_len - 1));
      return 1;
    }
    const scfm::tasks::CellInput in(vocab, conv, match.var_to_id, max_len, false, 0);
    std::vector<scfm::tasks::CellTokens> batches;
    for (size_t b = 0; b < cells.size(); b += static_cast<size_t>(batch)) {
      std::vector<int64_t> rows(cells.begin() + b, cells.begin() + std::min(cells.size(), b + batch));
      batches.push_back(in.tokens(x, rows, rows));
    }
    c10::NoGradGuard no_grad;
    model->module().eval();
    scfm::model::StateDict dump;
    auto run = [&](bool keep) {
      for (size_t i = 0; i < batches.size(); ++i) {
        auto& t = batches[i];
        at::Tensor e = model->forward(t.genes, t.values, t.padding).cell_emb;
        if (keep) {
          const std::string k = std::to_string(i);
          dump.emplace_back("genes." + k, t.genes);
          dump.emplace_back("values." + k, t.values);
          dump.emplace_back("padding." + k, t.padding);
          dump.emplace_back("emb." + k, e.contiguous());
        }
      }
    };
    run(true);  // warm-up, and the embeddings PyTorch's must equal
    if (!tokens_out.empty()) scfm::model::save_state_dict(dump, tokens_out);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      run(false);
      best = std::min(best, now() - t0);
    }
    // sgemm of the model's width, for a peak to compare against
    const int64_t d = std::max<int64_t>(256, model->args().value("embsize", 256));
    at::Tensor a = at::randn({2048, d}), w = at::randn({d, d});
    double gemm = 1e30;
    for (int r = 0; r < 5; ++r) {
      const double t0 = now();
      at::Tensor c = at::mm(a, w);
      gemm = std::min(gemm, now() - t0);
    }
    const double gemm_gflops = 2.0 * 2048 * d * d / gemm / 1e9;
    std::printf("{\"side\": \"scfm\", \"structure\": \"%s\", \"cells\": %zu, \"tokens\": %lld, \"batch\": %lld, "
                "\"threads\": %d, \"seconds\": %.4f, \"cells_per_s\": %.2f, \"sgemm_gflops\": %.1f, \"blas_core\": \"%s\"}\n",
                model->structure().c_str(), cells.size(), static_cast<long long>(max_len), static_cast<long long>(batch),
                threads, best, cells.size() / best, gemm_gflops, scfm::runtime::blas_info().core.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_embed: %s\n", e.what());
    return 1;
  }
  return 0;
}
