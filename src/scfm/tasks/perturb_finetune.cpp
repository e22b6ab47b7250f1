#include "scfm/tasks/perturb_finetune.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "scfm/eval/perturbation_metrics.h"
#include "scfm/eval/report.h"
#include "scfm/io/array.h"
#include "scfm/io/h5ad.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/scgpt/load.h"
#include "scfm/tasks/perturb_eval.h"
#include "scfm/tasks/perturb_generator.h"
#include "scfm/tasks/scgpt_finetune.h"
#include "scfm/util/error.h"

namespace fs = std::filesystem;

namespace scfm::tasks {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}


std::vector<std::string> split_set(const PerturbData& d, const std::string& set) {
  std::vector<std::string> v;
  const std::vector<std::string>* src = set == "test" ? &d.split.test : set == "val" ? &d.split.val
                                      : set == "train" ? &d.split.train : nullptr;
  if (src == nullptr) throw Error("perturb: --set must be test, val or train, got " + set);
  for (const auto& c : *src)
    if (c != "ctrl") v.push_back(c);
  if (v.empty()) throw Error("perturb: the " + set + " set of " + d.path + " has no perturbed conditions");
  return v;
}

PerturbPrediction generator_prediction(const PerturbData& d, const GeneratorInput& in, model::scgpt::TransformerModelImpl& net,
                                       const std::vector<std::string>& conditions, int64_t batch_size) {
  PerturbPrediction p{"scgpt", {}};
  for (const auto& c : conditions) {
    const int32_t k = d.condition_index(c);
    p.mean[c] = in.predict_mean(net, d.cells_of[k], k, batch_size);
  }
  return p;
}

}  // namespace

nlohmann::json perturb_finetune(const PerturbFinetuneOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw Error("perturb finetune: --out (a folder) is required");
  if (o.epochs < 1 || o.batch_size < 1) throw Error("perturb finetune: --epochs >= 1 and --batch-size >= 1");
  const PerturbData d = read_perturb_data(o.input);
  (void)read_scgpt_args(o.model_dir, "perturb finetune");
  model::scgpt::ScGptCheckpoint ck = model::scgpt::load_checkpoint_folder(o.model_dir);
  if (ck.vocab.size() == 0) throw FormatError(o.model_dir, "vocab.json", "missing; the genes cannot be matched");
  if (ck.config.input_emb_style != "continuous")
    throw FormatError(o.model_dir + "/args.json", "input_emb_style",
                      "'" + ck.config.input_emb_style + "'; scGPT's TransformerGenerator reads continuous values");
  const GeneratorInput in(d, ck.vocab, o.model_dir + "/vocab.json", o.max_seq_len, o.seed);

  model::scgpt::ScGptConfig cfg = ck.config;
  cfg.pert_flags = true;
  cfg.explicit_zero_prob = o.explicit_zero_prob;
  cfg.use_batch_labels = false;
  cfg.num_batch_labels = 0;
  cfg.domain_spec_batchnorm = "";
  cfg.do_dab = false;
  cfg.do_mvc = false;
  cfg.cls_decoder = true;  // TransformerGenerator always has one (unused here), so names match
  cfg.n_cls = 1;
  torch::manual_seed(o.seed);
  model::scgpt::TransformerModel net(cfg, ck.vocab.id(cfg.pad_token));
  model::StateDict kept;  // the tutorial's load_param_prefixs
  for (const auto& [name, t] : model::module_state(*ck.model))
    for (const char* p : {"encoder.", "value_encoder.", "transformer_encoder."})
      if (name.rfind(p, 0) == 0) kept.emplace_back(name, t);
  model::scgpt::ScGptLoadOptions lo;
  lo.allow_partial = true;
  if (o.from_scratch) kept.clear();
  const model::scgpt::KeyReport keys = model::scgpt::load_state(*net, kept, lo, ck.files.weights);
  std::cerr << "perturb finetune: " << keys.loaded << " of " << keys.model_tensors << " tensors from "
            << ck.files.weights << " (encoder, value_encoder, transformer_encoder); pert_encoder and the affine "
            << "decoder start fresh; " << in.n_not_in_vocab() << " of " << d.n_genes << " genes not in the vocabulary\n";

  std::vector<std::string> train_conds = d.split.train;
  const std::vector<int64_t> train_cells = cells_of_conditions(d, train_conds);
  const std::vector<std::string> val = split_set(d, "val");
  const std::string model_out = (fs::path(o.out_dir) / "model").string();
  fs::create_directories(model_out);

  std::vector<at::Tensor> params = net->parameters();
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(o.lr));
  nlohmann::json log = nlohmann::json::array();
  int64_t steps = 0, cells_trained = 0, best_epoch = 0;
  double best_val = -2, train_seconds = 0;
  bool stop = false;
  for (int64_t epoch = 1; epoch <= o.epochs && !stop; ++epoch) {
    const auto te = std::chrono::steady_clock::now();
    const double lr = set_step_lr(optimizer, o.lr, o.step_gamma, epoch);
    net->train();
    std::vector<int64_t> order;
    for (int64_t k : data::keyed_permutation(static_cast<int64_t>(train_cells.size()), o.seed, epoch, -1))
      order.push_back(train_cells[k]);
    if (o.max_train_cells > 0 && static_cast<int64_t>(order.size()) > o.max_train_cells)
      order.resize(static_cast<size_t>(o.max_train_cells));
    double loss_sum = 0;
    int64_t n_batches = 0;
    for (size_t s = 0; s < order.size() && !stop; s += static_cast<size_t>(o.batch_size)) {
      const std::vector<int64_t> cells(order.begin() + s, order.begin() + std::min(order.size(), s + o.batch_size));
      const GeneratorInput::Batch bt = in.batch(cells, epoch);
      const at::Tensor pad = at::zeros(bt.genes.sizes(), at::kBool);
      const model::scgpt::ForwardOutput out = net->forward(bt.genes, bt.values, pad, {}, {}, bt.flags);
      at::Tensor loss = (out.mlm_output - bt.target).pow(2).mean();
      optimizer.zero_grad();
      loss.backward();
      if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
      optimizer.step();
      loss_sum += loss.item<double>();
      ++n_batches;
      ++steps;
      cells_trained += static_cast<int64_t>(cells.size());
      if (o.max_steps > 0 && steps >= o.max_steps) stop = true;
    }
    const double secs = seconds_since(te);
    train_seconds += secs;
    // validation: GEARS's pearson on the val conditions' mean profiles (scGPT keeps the best)
    const PerturbPrediction pv = generator_prediction(d, in, *net, val, o.batch_size);
    const nlohmann::json sv = score_perturbations(d, {pv}, val);
    const double val_pearson = sv["methods"]["scgpt"]["mean"]["pearson"].get<double>();
    const double val_delta = sv["methods"]["scgpt"]["mean"]["pearson_delta_de"].get<double>();
    nlohmann::json line = {{"epoch", epoch},         {"lr", lr},
                           {"steps", steps},         {"train_mse", loss_sum / std::max<int64_t>(1, n_batches)},
                           {"val_pearson", val_pearson}, {"val_pearson_delta_de", val_delta},
                           {"seconds", secs}};
    std::cerr << "perturb finetune: " << line.dump() << "\n";
    log.push_back(line);
    if (val_pearson > best_val) {
      best_val = val_pearson;
      best_epoch = epoch;
      model::save_state_dict(model::module_state(*net), model_out + "/best_model.pt");
    }
  }
  // the kept model, then the test report
  {
    const model::StateDict best = model::load_state_dict(model_out + "/best_model.pt");
    (void)model::scgpt::load_state(*net, best, {}, model_out + "/best_model.pt");
  }
  nlohmann::json settings = {{"model", o.model_dir},   {"input", o.input},          {"epochs", o.epochs},
                             {"batch_size", o.batch_size}, {"lr", o.lr},           {"step_gamma", o.step_gamma},
                             {"grad_clip", o.grad_clip},   {"max_seq_len", o.max_seq_len},
                             {"explicit_zero_prob", o.explicit_zero_prob}, {"seed", o.seed}, {"from_scratch", o.from_scratch},
                             {"best_epoch", best_epoch},   {"best_val_pearson", best_val}};
  nlohmann::json args = cfg.to_json();
  args["model_structure"] = "scgpt";
  args["model_class"] = "TransformerGenerator";
  args["pert_pad_id"] = 2;
  args["perturb"] = settings;
  ck.vocab.save(model_out + "/vocab.json");
  eval::write_text(model_out + "/args.json", args.dump(2) + "\n");
  std::string jsonl;
  for (const auto& l : log) jsonl += l.dump() + "\n";
  eval::write_text((fs::path(o.out_dir) / "metrics.jsonl").string(), jsonl);

  const std::vector<std::string> test = split_set(d, "test");
  const auto tp = std::chrono::steady_clock::now();
  PerturbPrediction pt = generator_prediction(d, in, *net, test, o.batch_size);
  const double predict_seconds = seconds_since(tp);
  nlohmann::json extra = {{"settings", settings}, {"epochs", log}, {"keys", keys.to_json()}, {"steps", steps},
                          {"finetune_cells_per_s", train_seconds > 0 ? cells_trained / train_seconds : 0.0},
                          {"predict_seconds", predict_seconds}, {"model_folder", model_out}};
  nlohmann::json r = write_perturb_report(d, {pt}, test, o.out_dir, "test", extra);
  r["seconds"] = seconds_since(t0);
  return r;
}

nlohmann::json perturb_predict(const PerturbPredictOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw Error("perturb predict: --out (a folder) is required");
  const PerturbData d = read_perturb_data(o.input);
  const std::vector<std::string> conds = split_set(d, o.set);
  std::vector<PerturbPrediction> methods;
  nlohmann::json extra = {{"set", o.set}};
  if (!o.model_dir.empty()) {
    (void)read_scgpt_args(o.model_dir, "perturb predict");
    model::scgpt::ScGptCheckpoint ck = model::scgpt::load_checkpoint_folder(o.model_dir);
    if (!ck.config.pert_flags)
      throw FormatError(o.model_dir, "best_model.pt",
                        "no pert_encoder: not a perturbation generator; fine-tune one with `scfm perturb finetune`");
    const GeneratorInput in(d, ck.vocab, o.model_dir + "/vocab.json", o.max_seq_len, o.seed);
    methods.push_back(generator_prediction(d, in, *ck.model, conds, o.batch_size));
    extra["model"] = o.model_dir;
  }
  nlohmann::json r = write_perturb_report(d, methods, conds, o.out_dir, o.set, extra);
  r["seconds"] = seconds_since(t0);
  return r;
}

}  // namespace scfm::tasks
