#include "scfm/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/zeros.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "scfm/data/random.h"
#include "scfm/data/sampler.h"
#include "scfm/data/torch/loader.h"
#include "scfm/io/sparse.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/dropout.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/normalize.h"
#include "scfm/store/reader.h"
#include "scfm/train/adam.h"
#include "scfm/train/distributed.h"
#include "scfm/train/objective.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"
#include "scfm/util/splitmix.h"

namespace scfm::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Cells of the store used for training / validation.
struct Split {
  std::vector<int64_t> train, valid;
};

Split split_cells(int64_t n, double valid_ratio, uint64_t seed) {
  // a seeded permutation keyed like everything else: sort cells by a hash of (seed, cell)
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keyed[i] = {data::splitmix64(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(i) + 0x5A17ULL), i};
  std::sort(keyed.begin(), keyed.end());
  const int64_t n_valid = std::min<int64_t>(n - 1, static_cast<int64_t>(std::llround(valid_ratio * n)));
  Split s;
  for (int64_t k = 0; k < n; ++k) (k < n_valid ? s.valid : s.train).push_back(keyed[k].second);
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.valid.begin(), s.valid.end());
  return s;
}

// What pretraining feeds the model for a cell's values: log1p(normalize_total(x, 1e4)), then with
// --preprocess-mode bin scGPT's binning keyed by (seed, epoch, cell). `stored` is what the store's
// values already are (its manifest "values"); only the missing steps are applied, so a cell gets
// the same input (to float rounding) whether the store holds raw counts or values normalised and
// log1p'd at ingest:
//   raw, or normalised without log1p   normalise to 1e4 (a rescale of normalised values), log1p
//   normalize_total 1e4 + log1p        nothing
//   binned at ingest                   nothing: the bins are used as stored (fixed at ingest,
//                                      where --preprocess-mode bin redraws tie-breaks per epoch);
//                                      needs --preprocess-mode bin and the same --n-bins
// Anything else (log1p without a 1e4 normalisation, a binned store without bin mode) cannot give
// that input and is an error naming the store and the manifest field.
data::ValueTransform make_transform(const PretrainOptions& o, const store::StoredValues& stored,
                                    const std::string& store_path) {
  const bool bin = o.preprocess_mode == "bin";
  if (o.preprocess_mode != "none" && !bin)
    throw Error("--preprocess-mode '" + o.preprocess_mode + "': expected none or bin");
  const int n_bins = static_cast<int>(o.n_bins);
  const uint64_t seed = o.seed;
  const std::string where = store_path + "/manifest.json: values";
  if (stored.n_bins > 0) {
    if (!bin)
      throw Error(where + ".binning: the store holds value bins made at ingest (" + stored.describe() +
                  "); pretrain on it with --preprocess-mode bin --n-bins " + std::to_string(stored.n_bins) +
                  ", or ingest the counts without --bin");
    if (stored.n_bins != n_bins)
      throw Error(where + ".binning.n_bins: the store holds " + std::to_string(stored.n_bins) + " bins, --n-bins is " +
                  std::to_string(n_bins) + " (bins are not re-binned; pass --n-bins " + std::to_string(stored.n_bins) + ")");
    return [](const data::CellInput&, int64_t, std::vector<float>&) {};
  }
  const bool normalised_log = stored.log1p;
  if (stored.log1p && (!stored.normalize_total || std::fabs(*stored.normalize_total - 1e4) > 1e-9 * 1e4))
    throw Error(where + (stored.normalize_total ? ".normalize_total" : ".log1p") + ": the store holds " + stored.describe() +
                "; pretraining takes log1p(normalize_total(x, 1e4)) and cannot undo a log1p of other totals; ingest with "
                "--normalize-total 1e4 --log1p, or without either");
  return [bin, n_bins, seed, normalised_log](const data::CellInput& cell, int64_t epoch, std::vector<float>& v) {
    if (!normalised_log) pp::log1p_normalize_cell(v.data(), v.size());
    if (!bin) return;
    io::CsrMatrix row;
    row.n_rows = 1;
    row.n_cols = 1 << 30;
    row.indices.assign(cell.ids, cell.ids + cell.n);
    row.data = v;
    row.indptr = {0, cell.n};
    pp::BinningOptions bo;
    bo.n_bins = n_bins;
    bo.seed = seed * 1000003ULL + static_cast<uint64_t>(epoch);
    pp::BinnedMatrix b = pp::binning(row, bo, cell.cell);
    for (int64_t k = 0; k < cell.n; ++k) v[k] = static_cast<float>(b.bins[k]);
  };
}

}  // namespace

data::ValueTransform pretrain_value_transform(const PretrainOptions& options, const store::CellStore& store) {
  return make_transform(options, store.manifest().values, store.path());
}

namespace {

void load_module_state(torch::nn::Module& m, const model::StateDict& sd, const std::string& file) {
  torch::NoGradGuard guard;
  auto params = m.named_parameters();
  auto buffers = m.named_buffers();
  for (auto& [name, t] : sd) {
    if (name.rfind("model.", 0) != 0) continue;
    const std::string key = name.substr(6);
    at::Tensor* dst = params.find(key);
    if (dst == nullptr) dst = buffers.find(key);
    if (dst == nullptr) throw FormatError(file, name, "no such parameter in the model");
    if (dst->sizes() != t.sizes()) throw FormatError(file, name, "shape differs from the model's");
    dst->copy_(t);
  }
}

int64_t meta(const model::StateDict& sd, const std::string& key, const std::string& file) {
  const at::Tensor* t = model::find(sd, "meta." + key);
  if (t == nullptr) throw FormatError(file, "meta." + key, "missing from the training state");
  return t->item<int64_t>();
}


struct Position {
  int64_t epoch = 1;  // 1-based, as scBenchmark
  int64_t batch = 0;  // batches of this epoch already done
  int64_t step = 0;   // optimiser steps done
  double best = INFINITY;
  // the log line being accumulated (steps since the last one): kept in mid-epoch checkpoints so a
  // resumed run's first line averages the same steps as an uninterrupted run's
  double log_loss = 0, log_mse = 0;
  int64_t log_n = 0;
};

void save_train_state(const std::string& path, torch::nn::Module& m, torch::optim::Adam& opt, const Position& pos) {
  model::StateDict sd;
  for (auto& [k, v] : model::module_state(m)) sd.emplace_back("model." + k, v);
  auto params = m.named_parameters();
  for (auto& p : params) {
    auto it = opt.state().find(adam_state_key(p.value()));
    if (it == opt.state().end()) continue;
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    sd.emplace_back("optim." + p.key() + ".exp_avg", s.exp_avg());
    sd.emplace_back("optim." + p.key() + ".exp_avg_sq", s.exp_avg_sq());
    sd.emplace_back("optim." + p.key() + ".step", at::tensor(static_cast<int64_t>(s.step())));
  }
  sd.emplace_back("meta.epoch", at::tensor(pos.epoch));
  sd.emplace_back("meta.batch", at::tensor(pos.batch));
  sd.emplace_back("meta.step", at::tensor(pos.step));
  sd.emplace_back("meta.best", at::tensor(pos.best));
  sd.emplace_back("meta.log", at::tensor(std::vector<double>{pos.log_loss, pos.log_mse, static_cast<double>(pos.log_n)},
                                         at::kDouble));
  sd.emplace_back("rng.cpu", at::detail::getDefaultCPUGenerator().get_state());
  model::save_state_dict(sd, path);
}

void set_moments(const model::StateDict& sd, const std::string& path, torch::nn::Module& m, torch::optim::Adam& opt) {
  for (auto& p : m.named_parameters()) {
    const at::Tensor* a = model::find(sd, "optim." + p.key() + ".exp_avg");
    const at::Tensor* b = model::find(sd, "optim." + p.key() + ".exp_avg_sq");
    const at::Tensor* s = model::find(sd, "optim." + p.key() + ".step");
    if (a == nullptr || b == nullptr || s == nullptr) continue;
    if (a->sizes() != p.value().sizes() || b->sizes() != p.value().sizes())
      throw FormatError(path, "optim." + p.key(), "moment shapes differ from the model's parameter");
    auto state = std::make_unique<torch::optim::AdamParamState>();
    state->step(s->item<int64_t>());
    state->exp_avg(a->to(p.value().device()).clone());
    state->exp_avg_sq(b->to(p.value().device()).clone());
    opt.state()[adam_state_key(p.value())] = std::move(state);
  }
}

void load_optimizer_moments(const std::string& path, torch::nn::Module& m, torch::optim::Adam& opt) {
  set_moments(model::load_state_dict(path), path, m, opt);
}

Position load_train_state(const std::string& path, torch::nn::Module& m, torch::optim::Adam& opt) {
  model::StateDict sd = model::load_state_dict(path);
  load_module_state(m, sd, path);
  set_moments(sd, path, m, opt);
  Position pos;
  pos.epoch = meta(sd, "epoch", path);
  pos.batch = meta(sd, "batch", path);
  pos.step = meta(sd, "step", path);
  if (const at::Tensor* best = model::find(sd, "meta.best")) pos.best = best->item<double>();
  if (const at::Tensor* log = model::find(sd, "meta.log"); log && log->numel() == 3) {
    const at::Tensor l = log->to(at::kDouble).contiguous();
    pos.log_loss = l[0].item<double>();
    pos.log_mse = l[1].item<double>();
    pos.log_n = static_cast<int64_t>(l[2].item<double>());
  }
  if (const at::Tensor* rng = model::find(sd, "rng.cpu")) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(*rng);
  }
  return pos;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  util::AtomicPath out(path);
  {
    std::ofstream f(out.temp());
    f << j.dump(1) << "\n";
    f.close();  // the buffered bytes reach the file here: a full disk shows now
    if (!f) throw Error(path + ": write failed (disk full?)");
  }
  out.commit();
}

// metrics.jsonl as it stood when the run was at `step`: the lines of steps up to it (a resumed run
// logs the later ones again, so the log ends as an uninterrupted run's would; a half-written last
// line is dropped). Rewritten atomically; a fresh run (step < 0) starts an empty log.
void rewind_metrics(const std::string& path, int64_t step) {
  std::string kept;
  if (step >= 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline: the line was cut off by the kill
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() <= step)
        kept += line + "\n";
    }
  }
  util::AtomicPath out(path);
  {
    std::ofstream f(out.temp(), std::ios::binary);
    f << kept;
    f.close();
    if (!f) throw Error(path + ": write failed (disk full?)");
  }
  out.commit();
}

std::vector<double> gene_means(const store::CellStore& s, const std::vector<int64_t>& cells, int64_t vocab_size,
                               const data::ValueTransform& transform) {
  std::vector<double> sum(static_cast<size_t>(vocab_size), 0.0), count(static_cast<size_t>(vocab_size), 0.0);
  const size_t limit = std::min<size_t>(cells.size(), 20000);
  std::vector<float> v;
  for (size_t k = 0; k < limit; ++k) {
    store::CellRow row = s.row(cells[k]);
    v.assign(row.values, row.values + row.n);
    data::CellInput in{cells[k], row.ids, row.values, row.n};
    transform(in, 0, v);
    for (int64_t j = 0; j < row.n; ++j) {
      sum[row.ids[j]] += v[j];
      count[row.ids[j]] += 1;
    }
  }
  for (size_t g = 0; g < sum.size(); ++g) sum[g] = count[g] > 0 ? sum[g] / count[g] : 0.0;
  return sum;
}

// The name of the first parameter whose gradient holds a NaN or an infinity, or "" when all are
// finite: the sum of each gradient (NaN and Inf survive it), one check of all of them.
std::string first_nonfinite_gradient(torch::nn::Module& m) {
  auto params = m.named_parameters();
  std::vector<at::Tensor> sums;
  std::vector<std::string> names;
  for (auto& p : params) {
    const at::Tensor& g = p.value().grad();
    if (!g.defined()) continue;
    sums.push_back(g.sum().to(at::kDouble).reshape({1}));
    names.push_back(p.key());
  }
  if (sums.empty() || at::isfinite(at::cat(sums)).all().item<bool>()) return "";
  const at::Tensor ok = at::isfinite(at::cat(sums)).to(at::kCPU);
  for (size_t i = 0; i < names.size(); ++i)
    if (!ok[static_cast<int64_t>(i)].item<bool>()) return names[i];
  return names.front();
}

// bf16 autocast on CUDA; LibTorch renamed the switches in 2.4 (one shim, here).
struct AutocastGuard {
  bool on;
  explicit AutocastGuard(bool enable) : on(enable) {
    if (!on) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  }
  ~AutocastGuard() {
    if (!on) return;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    at::autocast::set_enabled(false);
#endif
    at::autocast::clear_cache();
  }
};

}  // namespace

PretrainResult pretrain(model::PretrainModel& model, const store::CellStore& train_store, const store::CellStore* valid_store,
                        const io::Vocab& vocab, const PretrainOptions& o, Distributed* dist) {
  const int rank = dist ? dist->rank() : 0;
  const int world = dist ? dist->world_size() : 1;
  const bool main = rank == 0;
  if (o.batch_size % world != 0)
    throw Error("--batch-size " + std::to_string(o.batch_size) + " is global and must divide by the " +
                std::to_string(world) + " processes");
  if (train_store.vocab_size() != vocab.size())
    throw Error(train_store.path() + ": the store uses a vocabulary of " + std::to_string(train_store.vocab_size()) +
                " tokens, the model " + std::to_string(vocab.size()));
  if (o.grad_accu_steps < 1) throw Error("--grad-accu-steps must be at least 1");
  const int64_t micro_batch = o.batch_size / world;          // cells per forward on this rank
  const int64_t local_batch = micro_batch * o.grad_accu_steps;  // cells per optimiser step on this rank
  fs::create_directories(o.out_dir);

  Split split;
  if (!o.train_cells.empty() || !o.valid_cells.empty()) {
    if (valid_store != nullptr) throw Error("pretrain: explicit training/validation cells and a validation store exclude each other");
    if (o.train_cells.empty() || o.valid_cells.empty()) throw Error("pretrain: explicit cells need both training and validation cells");
    for (const auto* cells : {&o.train_cells, &o.valid_cells})
      for (int64_t c : *cells)
        if (c < 0 || c >= train_store.n_cells())
          throw Error("pretrain: cell " + std::to_string(c) + " is outside " + train_store.path() + " (" +
                      std::to_string(train_store.n_cells()) + " cells)");
    split.train = o.train_cells;
    split.valid = o.valid_cells;
  } else if (valid_store == nullptr) {
    split = split_cells(train_store.n_cells(), o.valid_ratio, o.seed);
  } else {
    for (int64_t i = 0; i < train_store.n_cells(); ++i) split.train.push_back(i);
    for (int64_t i = 0; i < valid_store->n_cells(); ++i) split.valid.push_back(i);
  }
  const store::CellStore& vstore = valid_store ? *valid_store : train_store;

  data::SamplerOptions so;
  so.seed = o.seed;
  so.rank = rank;
  so.world_size = world;
  data::Sampler sampler(static_cast<int64_t>(split.train.size()), so);
  data::SamplerOptions vo = so;
  vo.shuffle = false;
  data::Sampler vsampler(static_cast<int64_t>(split.valid.size()), vo);

  data::LoaderOptions lo;
  lo.batch_size = local_batch;
  lo.num_threads = std::max(1, o.loader_threads);
  lo.batch = o.batch;
  lo.batch.seed = o.seed;
  lo.transform = pretrain_value_transform(o, train_store);
  data::LoaderOptions vlo = lo;
  vlo.transform = pretrain_value_transform(o, vstore);  // the validation store may hold other values
  vlo.batch.seed = o.seed ^ 0x7A11DULL;  // validation masks differ from training's, fixed per run

  torch::nn::Module& module = model.module();
  // with NCCL each rank trains on its own GPU (cuda:LOCAL_RANK), where its collectives run
  const at::Device device = dist && dist->device().is_cuda() ? dist->device() : at::Device(o.device);
  if (o.amp && !device.is_cuda()) throw Error("--amp needs --device cuda");
  module.to(device);
  torch::optim::Adam optimizer(module.parameters(), torch::optim::AdamOptions(o.schedule.lr));
  Position pos;
  const std::string state_path = o.out_dir + "/train_state.pt";
  if (o.resume && fs::is_directory(o.out_dir)) util::remove_stale_temporaries(o.out_dir);  // a killed run's
  if (o.resume && fs::exists(state_path)) {
    pos = load_train_state(state_path, module, optimizer);
  } else if (!o.init_optimizer_state.empty()) {
    load_optimizer_moments(o.init_optimizer_state, module, optimizer);
  }
  // with ranks: gradients summed in buckets while the step's last backward runs
  std::unique_ptr<GradientReducer> reducer;
  if (dist) reducer = std::make_unique<GradientReducer>(*dist, module.parameters());

  if (main) {
    nlohmann::json args = model.args();
    args["epochs"] = o.epochs;
    args["batch_size"] = o.batch_size;
    args["grad_accu_steps"] = o.grad_accu_steps;
    args["lr"] = o.schedule.lr;
    args["warmup_iters"] = o.schedule.warmup_steps;
    args["mask_ratio"] = o.batch.mask.mask_ratio;
    args["train_maxseq"] = o.batch.tokenizer.max_len - 1;
    args["preprocess_mode"] = o.preprocess_mode;
    args["n_bins"] = o.n_bins;
    args["use_mvc"] = o.use_mvc;
    args["seed"] = o.seed;
    args["world_size"] = world;
    write_json(o.out_dir + "/args.json", args);
    vocab.save(o.out_dir + "/vocab.json");
  }
  std::ofstream metrics;
  if (main) {
    rewind_metrics(o.out_dir + "/metrics.jsonl", o.resume ? pos.step : -1);
    metrics.open(o.out_dir + "/metrics.jsonl", std::ios::app);
  }
  auto log_metrics = [&](const nlohmann::json& line) {  // a full disk stops the run, not just the log
    metrics << line.dump() << "\n" << std::flush;
    if (!metrics) throw Error(o.out_dir + "/metrics.jsonl: write failed (disk full?); train_state.pt holds the last checkpoint");
  };
  // a bar on a terminal; log lines on stderr otherwise
  const bool tty = o.progress && main && util::progress_enabled() && isatty(STDERR_FILENO);

  std::vector<double> means = gene_means(train_store, split.train, vocab.size(), lo.transform);
  const int64_t steps_per_epoch = (sampler.epoch_size() + local_batch - 1) / local_batch;
  PretrainResult result;
  auto checkpoint = [&]() {
    if (main) save_train_state(state_path, module, optimizer, pos);
    if (dist) dist->barrier();
  };

  for (; pos.epoch <= o.epochs; ++pos.epoch, pos.batch = 0) {
    module.train();
    std::vector<int64_t> order = sampler.indices(pos.epoch);
    std::vector<int64_t> cells;
    for (size_t k = static_cast<size_t>(pos.batch * local_batch); k < order.size(); ++k) cells.push_back(split.train[order[k]]);
    data::Loader loader(train_store, cells, pos.epoch, lo);
    double log_loss = pos.log_loss, log_mse = pos.log_mse;  // non-zero only when resuming mid-epoch
    int64_t log_n = pos.log_n;
    pos.log_loss = pos.log_mse = 0;
    pos.log_n = 0;
    auto checkpoint_here = [&] {  // the open log line goes into the checkpoint, not further
      pos.log_loss = log_loss;
      pos.log_mse = log_mse;
      pos.log_n = log_n;
      checkpoint();
      pos.log_loss = pos.log_mse = 0;
      pos.log_n = 0;
    };
    auto t0 = Clock::now();
    int64_t cells_seen = 0;
    util::Progress bar("pretrain epoch " + std::to_string(pos.epoch) + "/" + std::to_string(o.epochs), steps_per_epoch,
                       "steps", tty);
    bar.set(pos.batch);
    while (auto b = loader.next()) {
      if (o.max_steps >= 0 && pos.step >= o.max_steps) break;
      const double lr = learning_rate(o.schedule, pos.step);
      for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
      // the global number of masked positions normalises every rank's and micro-batch's share
      at::Tensor count = b->mask_positions.sum().to(at::kDouble).reshape({1});  // on the CPU
      if (dist) dist->allreduce_sum(count);
      const double n_masked = std::max(1.0, count.item<double>());
      // zeroed, not dropped (set_to_none): dropping them saved ~15 ms a step on the small
      // structures but broke bit-exact resume against LibTorch 2.x (Trainer.ResumeEndsWithTheSameWeights
      // on torch 2.11; cause not pinned down)
      optimizer.zero_grad();
      double step_loss = 0, step_mse = 0;
      const int64_t rows = b->genes.size(0);
      for (int64_t r0 = 0; r0 < rows; r0 += micro_batch) {
        const int64_t rn = std::min(micro_batch, rows - r0);
        auto part = [&](const at::Tensor& t) { return rows == rn ? t.to(device) : t.narrow(0, r0, rn).to(device); };
        const at::Tensor genes = part(b->genes), masked_values = part(b->masked_values);
        const at::Tensor pad = part(b->key_padding_mask), values = part(b->values);
        const at::Tensor mask = part(b->mask_positions);
        model::MlmOutputs out;
        {
          AutocastGuard autocast(o.amp);
          // dropout masks keyed by (seed, step, cell): the same whatever the batch split, micro-batching
          // or number of processes (model/dropout.h)
          model::DropoutKeys keys(util::splitmix64(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(pos.step)),
                                  rows == rn ? b->cells : b->cells.narrow(0, r0, rn));
          out = model.forward(genes, masked_values, pad, /*loss_positions=*/mask);  // heads where the loss reads
        }
        at::Tensor sse = masked_sse(out.mlm.to(at::kFloat), values, mask);
        at::Tensor loss = sse / n_masked;
        if (o.use_mvc) {
          if (!out.mvc.defined()) throw Error("--use-mvc: this model has no MVC head");
          loss = loss + masked_sse(out.mvc.to(at::kFloat), values, mask) / n_masked;
        }
        if (o.zero_prob_loss && out.mlm_zero_probs.defined())
          loss = loss + masked_bernoulli_nll_sum(out.mlm_zero_probs.to(at::kFloat), values, mask) / n_masked;
        if (reducer && r0 + rn >= rows) reducer->arm();  // the step's last backward: reduce while it runs
        loss.backward();
        step_loss += loss.item<double>();
        step_mse += sse.item<double>() / n_masked;
      }
      if (reducer) reducer->finish();  // gradients summed over ranks: each rank's loss is already its share
      if (o.before_step) o.before_step();
      // Non-finite guard: the loss, then the gradients as they would be applied (one reduction per
      // parameter, one host sync; the parameter is named only on the slow path).
      std::string nonfinite = std::isfinite(step_loss) ? "" : "loss";
      if (nonfinite.empty()) nonfinite = first_nonfinite_gradient(module);
      if (dist) {  // every rank takes the same decision
        at::Tensor flag = at::tensor({nonfinite.empty() ? 0.0 : 1.0}, at::kDouble);
        dist->allreduce_sum(flag);
        if (flag.item<double>() > 0 && nonfinite.empty()) nonfinite = "a gradient on another rank";
      }
      if (!nonfinite.empty()) {
        const std::string what = "pretrain: step " + std::to_string(pos.step + 1) + " (epoch " + std::to_string(pos.epoch) +
                                 "): non-finite " + (nonfinite == "loss" ? std::string("loss") : "gradient of " + nonfinite);
        if (main) {
          log_metrics(nlohmann::json{{"kind", "nonfinite"}, {"epoch", pos.epoch}, {"step", pos.step + 1},
                                     {"what", nonfinite}, {"action", o.on_nonfinite}});
        }
        if (o.on_nonfinite != "skip")
          throw Error(what + "; stopped (train_state.pt holds the last checkpoint before it; --on-nonfinite skip "
                             "drops such steps instead)");
        if (main) std::cerr << what << "; step skipped (no update)\n";
        optimizer.zero_grad();
        ++result.skipped_steps;
      } else {
        if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(module.parameters(), o.grad_clip);
        adam_step(optimizer);  // Adam::step in one pass per parameter
        if (o.after_step) o.after_step();
      }
      ++pos.step;
      ++pos.batch;
      cells_seen += b->genes.size(0) * world;
      log_loss += step_loss;
      log_mse += step_mse;
      ++log_n;
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      if (tty) {
        char note[96];
        std::snprintf(note, sizeof note, "loss %.4f  %.0f cells/s", log_loss / log_n, cells_seen / std::max(secs, 1e-9));
        bar.set(pos.batch);
        bar.note(note);
      }
      if (pos.step % o.log_interval == 0 && main) {
        nlohmann::json line = {{"kind", "train"}, {"epoch", pos.epoch}, {"step", pos.step}, {"lr", lr},
                               {"loss", log_loss / log_n}, {"mse", log_mse / log_n},
                               {"cells_per_s", cells_seen / std::max(secs, 1e-9)}};
        log_metrics(line);
        if (!tty) std::cerr << "pretrain: " << line.dump() << "\n";
        log_loss = log_mse = 0;
        log_n = 0;
      }
      if (o.checkpoint_every > 0 && pos.step % o.checkpoint_every == 0) checkpoint_here();
    }
    bar.finish();
    const bool stopped_mid_epoch = o.max_steps >= 0 && pos.step >= o.max_steps && pos.batch < steps_per_epoch;
    if (stopped_mid_epoch) checkpoint_here();  // resume continues from here

    // validation
    module.eval();
    EvalAccumulator acc(means);
    {
      torch::NoGradGuard no_grad;
      std::vector<int64_t> vcells;
      for (int64_t i : vsampler.indices(0)) vcells.push_back(split.valid[i]);
      data::Loader vloader(vstore, vcells, 0, vlo);
      while (auto b = vloader.next()) {
        model::MlmOutputs out;
        {
          AutocastGuard autocast(o.amp);
          out = model.forward(b->genes.to(device), b->masked_values.to(device), b->key_padding_mask.to(device));
        }
        acc.add(out.mlm.to(at::kFloat), b->values, b->mask_positions, b->genes);
      }
    }
    if (dist) {
      std::vector<double> s = acc.sums();
      at::Tensor t = at::tensor(s, at::kDouble);
      dist->allreduce_sum(t);
      acc.set_sums(std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel()));
    }
    result.last_validation = acc.result();
    if (main) {
      nlohmann::json line = {{"kind", "valid"}, {"epoch", pos.epoch}, {"step", pos.step}};
      line.update(result.last_validation);
      log_metrics(line);
      std::cerr << "pretrain: " << line.dump() << "\n";
      const double mse = result.last_validation["mse"].is_number() ? result.last_validation["mse"].get<double>() : INFINITY;
      model::StateDict sd = model::module_state(module);
      if (mse < pos.best) {  // also when --max-steps stopped the run mid-epoch
        pos.best = mse;
        model::save_state_dict(sd, o.out_dir + "/best_model.pt");
      }
      if (!stopped_mid_epoch && o.save_interval > 0 && pos.epoch % o.save_interval == 0)
        model::save_state_dict(sd, o.out_dir + "/model-ep" + std::to_string(pos.epoch) + ".pt");
    }
    if (stopped_mid_epoch) break;
    Position next = pos;
    next.epoch += 1;
    next.batch = 0;
    next.log_loss = next.log_mse = 0;  // each epoch starts a log line
    next.log_n = 0;
    if (main) save_train_state(state_path, module, optimizer, next);
    if (dist) dist->barrier();
    if (o.max_steps >= 0 && pos.step >= o.max_steps) {
      pos = next;
      break;
    }
  }
  result.steps = pos.step;
  return result;
}

}  // namespace scfm::train
