// bench/model: forward and forward+backward time of scBenchmark's structures in scfm
// (see bench/model.sh, which runs the original PyTorch modules in the same run, and
// docs/bench_model.md for the numbers).
//
//   bench_model [--threads N] [--batch B] [--genes G] [--vocab V] [--layers L] [--embsize E]
//               [--heads H] [--reps R] [--pad-fraction F] [--train-step] [STRUCTURE...]
//
// Defaults are scBenchmark's: 6 layers, embsize 256, 8 heads, 512 genes + <cls>, dropout 0.15,
// vocabulary 60,697 (<pad> = V-3, <cls> = V-2), batch 8, 2 threads. Inputs are random (seeded)
// ids with 20% of the values masked (-1); the per-token structures get the last 10%
// (--pad-fraction) of each row padded, the fixed-length ones (cnn_*, linear_ours) none, as in
// scBenchmark; the CNNs get 511 genes + <cls> (see main).
//   forward:   eval mode under NoGradGuard (inference)
//   fwd+bwd:   training mode (dropout on), loss = mse(mlm_output) + mse(mvc_output) against a
//              fixed target over the masked genes, backward (gradients zeroed before each step)
//   --train-step: instead of both, one whole training step as `scfm pretrain` takes it: zero
//              grads, forward, that loss, backward, Adam (lr 2e-4) step ("train_step_ms"; bench/pretrain.sh)
// Prints one JSON line per structure: {"structure", "forward_ms", "fwd_bwd_ms", ..., "blas_core"}
// (forward_ms / fwd_bwd_ms: the fastest of R timed runs after one warm-up run; *_median_ms: the
// median; the fastest is the least disturbed by other processes on a shared machine). The
// OpenBLAS core is chosen as the CLI chooses it (runtime::select_blas_core); bench/model.sh runs
// PyTorch with the same core.
#include <ATen/Parallel.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/arange.h>
#include <c10/core/GradMode.h>
#include <torch/nn/module.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/optim/adam.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "scfm/model/scbench/options.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/runtime/allocator.h"
#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"
#include "scfm/train/adam.h"

using namespace scfm::model::scbench;

namespace {

struct Args {
  int threads = 2, reps = 5;
  double pad_fraction = 0.1;
  bool train_step = false;
  int64_t batch = 8, genes = 512, vocab = 60697, layers = 6, embsize = 256, heads = 8;
  std::vector<std::string> structures;
};

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  double min_ms, median_ms;
};

template <class F>
Timing time_ms(int reps, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_ms();
    f();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  scfm::runtime::select_blas_core(argc, argv);  // the BLAS kernels scfm runs with (docs/blas.md)
  scfm::runtime::keep_freed_memory();            // as scfm pretrain / embed do
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_model: %s needs a value\n", s.c_str());
        std::exit(2);
      }
      return std::atol(argv[++i]);
    };
    if (s == "--threads") a.threads = static_cast<int>(next());
    else if (s == "--batch") a.batch = next();
    else if (s == "--genes") a.genes = next();
    else if (s == "--vocab") a.vocab = next();
    else if (s == "--layers") a.layers = next();
    else if (s == "--embsize") a.embsize = next();
    else if (s == "--heads") a.heads = next();
    else if (s == "--reps") a.reps = static_cast<int>(next());
    else if (s == "--train-step") a.train_step = true;
    else if (s == "--pad-fraction") {
      if (i + 1 >= argc) return 2;
      a.pad_fraction = std::atof(argv[++i]);
    }
    else if (s.rfind("--", 0) == 0) {
      std::fprintf(stderr, "bench_model: unknown option %s\n", s.c_str());
      return 2;
    } else a.structures.push_back(s);
  }
  if (a.structures.empty()) a.structures = {"transformer", "gnn_cp", "cnn_base", "cnn_ours", "linear_ours", "linear_base"};
  scfm::runtime::set_threads(a.threads);
  const std::string core = scfm::runtime::blas_info().core;

  const int64_t B = a.batch;
  const int64_t pad_id = a.vocab - 3, cls_id = a.vocab - 2;
  for (const std::string& structure : a.structures) {
    // The CNNs halve the tokens in every layer but the first of each 6 and add a max-pooled
    // residual, so they need a token count divisible by 2^(halving layers): 513 tokens fail in the
    // original too (a 257 vs 256 size mismatch). They run with one gene fewer (512 tokens).
    int64_t genes = a.genes;
    if (structure.rfind("cnn", 0) == 0) {
      int64_t halvings = 0;
      for (int64_t i = 0; i < a.layers; ++i) halvings += i % 6 != 0;
      const int64_t m = int64_t{1} << halvings;
      genes = (a.genes + 1) / m * m - 1;
    }
    const int64_t T = genes + 1;
    ScModelConfig c;
    c.model_structure = structure;
    c.nlayers = a.layers;
    c.nheads = a.heads;
    c.embsize = a.embsize;
    c.train_maxseq = genes;
    c.pad_token_id = pad_id;
    c.cls_token_id = cls_id;
    torch::manual_seed(0);
    ScModel model = make_scbench_model(c, a.vocab);
    const bool fixed = model->required_length() > 0;

    // Inputs: <cls> first, random gene ids, 20% masked values, 10% pads at the end (per-token only).
    at::Tensor src = at::randint(0, pad_id, {B, T}, at::kLong);
    src.select(1, 0).fill_(cls_id);
    at::Tensor values = at::rand({B, T}) * 5;
    values.masked_fill_(at::rand({B, T}) < 0.2, -1.0);
    values.select(1, 0).fill_(0);
    at::Tensor pad = at::zeros({B, T}, at::kBool);
    const int64_t n_pad = static_cast<int64_t>(static_cast<double>(T) * a.pad_fraction);
    if (!fixed && n_pad > 0) pad.narrow(1, T - n_pad, n_pad).fill_(true);
    src.masked_fill_(pad, pad_id);
    values.masked_fill_(pad, 0);
    const at::Tensor loss_positions = values == -1;
    const at::Tensor loss_mask = loss_positions.to(at::kFloat);
    const at::Tensor target = at::sin(at::arange(B * T, at::kFloat)).view({B, T});

    auto loss_of = [&](const ScModelOutput& o) {
      return ((o.mlm_output - target).pow(2) * loss_mask).sum() / loss_mask.sum() +
             ((o.mvc_output - target).pow(2) * loss_mask).sum() / loss_mask.sum();
    };
    if (a.train_step) {
      model->train();
      torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(2e-4));
      auto one_step = [&] {
        adam.zero_grad();  // as scfm pretrain
        loss_of(model->forward(src, values, pad, loss_positions)).backward();  // heads where the loss reads, as scfm pretrain
        scfm::train::adam_step(adam);  // as scfm pretrain steps
      };
      const Timing step = time_ms(a.reps, one_step);
      if (const char* trace = std::getenv("SCFM_BENCH_TRACE")) {  // one more step, as a chrome://tracing file
        torch::autograd::profiler::RecordProfile guard(std::string(trace) + "." + structure + ".json");
        one_step();
      }
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);  // peak resident set so far (this process runs one structure in bench/pretrain.sh)
      std::printf("{\"structure\": \"%s\", \"train_step_ms\": %.2f, \"train_step_median_ms\": %.2f, \"threads\": %d, "
                  "\"batch\": %lld, \"tokens\": %lld, \"blas_core\": \"%s\", \"peak_rss_mb\": %.0f}\n",
                  structure.c_str(), step.min_ms, step.median_ms, a.threads, static_cast<long long>(B),
                  static_cast<long long>(T), core.c_str(), ru.ru_maxrss / 1024.0);
      std::fflush(stdout);
      continue;
    }
    model->eval();
    const Timing fwd = time_ms(a.reps, [&] {
      c10::NoGradGuard no_grad;
      ScModelOutput o = model->forward(src, values, pad);
      (void)o.mlm_output.sum().item<float>();
    });
    model->train();
    const Timing fwd_bwd = time_ms(a.reps, [&] {
      model->zero_grad();
      loss_of(model->forward(src, values, pad)).backward();
    });
    std::printf("{\"structure\": \"%s\", \"forward_ms\": %.2f, \"fwd_bwd_ms\": %.2f, \"forward_median_ms\": %.2f, "
                "\"fwd_bwd_median_ms\": %.2f, \"threads\": %d, \"batch\": %lld, "
                "\"tokens\": %lld, \"blas_core\": \"%s\"}\n",
                structure.c_str(), fwd.min_ms, fwd_bwd.min_ms, fwd.median_ms, fwd_bwd.median_ms, a.threads, static_cast<long long>(B), static_cast<long long>(T), core.c_str());
    std::fflush(stdout);
  }
  return 0;
}
