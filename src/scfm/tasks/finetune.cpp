#include "scfm/tasks/finetune.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/tensor.h>
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

#include "scfm/data/sampler.h"
#include "scfm/eval/metrics.h"
#include "scfm/eval/report.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/factory.h"
#include "scfm/model/scgpt/modules.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace scfm::tasks {
namespace {

namespace fs = std::filesystem;

struct Cells {
  std::string path;
  io::CsrMatrix x;
  std::vector<int32_t> var_to_id;
  std::vector<std::string> labels;  // empty when the file has no label column
  int64_t n = 0;
  int64_t genes_matched = 0;
};

Cells read_cells(const std::string& path, const io::Vocab& vocab, const FinetuneOptions& o, bool labels_required) {
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  io::AnnData meta = io::read_h5ad(path, ro);
  Cells c;
  c.path = path;
  io::GeneMatch match = match_model_genes(vocab, meta, o.gene_col, path, "finetune-annotate");
  c.var_to_id = std::move(match.var_to_id);
  c.genes_matched = match.n_matched;
  const auto cols = io::dataframe_columns(meta.obs());
  if (std::find(cols.begin(), cols.end(), o.label_col) != cols.end())
    c.labels = io::column_strings(meta.obs(), o.label_col);
  else if (labels_required)
    throw FormatError(path, "obs/" + o.label_col, "no such column; name the cell-type column with --label-col");
  io::H5adStreamOptions so;
  so.layer = o.layer;
  io::H5adMatrixReader reader(path, so);
  c.n = reader.n_rows();
  c.x = reader.read_rows(0, c.n);
  return c;
}

// Parameters and buffers copied out (a snapshot of the best epoch) and back.
model::StateDict snapshot(const torch::nn::Module& m) {
  model::StateDict s = model::module_state(m);
  for (auto& kv : s) kv.second = kv.second.clone();
  return s;
}
void restore(torch::nn::Module& m, const model::StateDict& s) {
  torch::NoGradGuard g;
  model::StateDict dst = model::module_state(m);
  for (size_t i = 0; i < dst.size(); ++i) dst[i].second.copy_(s[i].second);
}

// Seeded split of `cells` into (first, second) with round(ratio * n) in the first.
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_cells(const std::vector<int64_t>& cells, double ratio,
                                                                  uint64_t seed) {
  eval::Split s = eval::random_split(static_cast<int64_t>(cells.size()), ratio, seed);
  std::pair<std::vector<int64_t>, std::vector<int64_t>> out;
  for (int64_t i : s.train) out.first.push_back(cells[i]);
  for (int64_t i : s.test) out.second.push_back(cells[i]);
  std::sort(out.first.begin(), out.first.end());
  std::sort(out.second.begin(), out.second.end());
  return out;
}

}  // namespace

nlohmann::json finetune_annotate(const FinetuneOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw Error("finetune-annotate: --out (a folder) is required");
  if (o.epochs < 1 || o.batch_size < 1) throw Error("finetune-annotate: --epochs and --batch-size must be positive");
  if (o.n_layers_cls < 1) throw Error("finetune-annotate: --n-layers-cls must be at least 1");
  auto model = model::load_pretrain_model(o.model_dir, o.allow_partial);
  const std::string structure = model->structure();
  const nlohmann::json base_args = model->args();
  const model::InputConventions conv = model::input_conventions(base_args);
  const io::Vocab vocab = io::Vocab::load(o.model_dir + "/vocab.json");
  if (o.max_length < 2) throw Error("finetune-annotate: --max-length must be at least 2 (<cls> and one gene)");

  Cells ref = read_cells(o.input, vocab, o, true);
  const eval::Encoded enc = eval::encode_labels(ref.labels);
  const int64_t k = static_cast<int64_t>(enc.classes.size());
  if (k < 2)
    throw FormatError(o.input, "obs/" + o.label_col, "needs at least two cell types to learn, found " + std::to_string(k));

  // Splits
  std::vector<int64_t> train, valid, test;
  std::vector<std::string> split_name(static_cast<size_t>(ref.n), "unlabelled");
  if (!o.query.empty()) {
    std::vector<int64_t> labelled;
    for (int64_t i = 0; i < ref.n; ++i)
      if (enc.codes[i] >= 0) labelled.push_back(i);
    std::tie(train, valid) = split_cells(labelled, 1.0 - o.valid_ratio, o.seed);
  } else {
    std::vector<int64_t> all(static_cast<size_t>(ref.n));
    for (int64_t i = 0; i < ref.n; ++i) all[i] = i;
    std::vector<int64_t> pool;
    std::tie(pool, test) = split_cells(all, o.train_ratio, o.seed);
    std::vector<int64_t> labelled;
    for (int64_t i : pool)
      if (enc.codes[i] >= 0) labelled.push_back(i);
    std::tie(train, valid) = split_cells(labelled, 1.0 - o.valid_ratio, o.seed + 1);
    for (int64_t i : test) split_name[i] = "test";
  }
  for (int64_t i : train) split_name[i] = "train";
  for (int64_t i : valid) split_name[i] = "valid";
  if (train.empty() || valid.empty())
    throw Error("finetune-annotate: " + o.input + " has too few labelled cells for a training and a validation part");

  torch::manual_seed(o.seed);
  const CellInput input(vocab, conv, ref.var_to_id, o.max_length, false, o.seed);
  auto forward_cells = [&](const CellInput& in, const io::CsrMatrix& x, const std::vector<int64_t>& cells) {
    CellTokens tok = in.tokens(x, cells, cells);
    return model->forward(tok.genes, tok.values, tok.padding).cell_emb;
  };
  int64_t width;
  {
    torch::NoGradGuard g;
    model->module().eval();
    width = forward_cells(input, ref.x, {train[0]}).size(1);
  }
  model::scgpt::StackedDecoder head(width, k, o.n_layers_cls, false, false);

  std::vector<at::Tensor> params = head->parameters();
  for (auto& p : model->module().parameters()) {
    if (o.freeze)
      p.requires_grad_(false);
    else
      params.push_back(p);
  }
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(o.lr));

  auto targets_of = [&](const std::vector<int64_t>& cells) {
    std::vector<int64_t> t;
    for (int64_t c : cells) t.push_back(enc.codes[c]);
    return at::tensor(t, at::kLong);
  };
  // Class probabilities for `cells` of `x` (eval mode, no grad).
  auto predict = [&](const CellInput& in, const io::CsrMatrix& x, const std::vector<int64_t>& cells) {
    torch::NoGradGuard g;
    model->module().eval();
    head->eval();
    std::vector<at::Tensor> parts;
    for (size_t b = 0; b < cells.size(); b += static_cast<size_t>(o.batch_size)) {
      std::vector<int64_t> batch(cells.begin() + b, cells.begin() + std::min(cells.size(), b + o.batch_size));
      parts.push_back(at::softmax(head(forward_cells(in, x, batch)), 1));
    }
    return parts.empty() ? at::zeros({0, k}) : at::cat(parts, 0);
  };

  nlohmann::json epochs = nlohmann::json::array();
  double best_loss = INFINITY;
  int64_t best_epoch = 0;
  model::StateDict best_model, best_head;
  const at::Tensor valid_targets = targets_of(valid);
  data::SamplerOptions so;  // the epoch permutation pretraining uses, keyed by (seed, epoch)
  so.seed = o.seed;
  const data::Sampler sampler(static_cast<int64_t>(train.size()), so);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const double lr = o.lr * std::pow(o.step_gamma, static_cast<double>(epoch - 1));
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
    if (o.freeze)
      model->module().eval();
    else
      model->module().train();
    head->train();
    std::vector<int64_t> order;
    for (int64_t i : sampler.indices(epoch)) order.push_back(train[i]);
    double loss_sum = 0;
    int64_t seen = 0;
    util::Progress bar("finetune epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs),
                       static_cast<int64_t>(order.size()), "cells");
    for (size_t b = 0; b < order.size(); b += static_cast<size_t>(o.batch_size)) {
      std::vector<int64_t> batch(order.begin() + b, order.begin() + std::min(order.size(), b + o.batch_size));
      at::Tensor logits = head(forward_cells(input, ref.x, batch));
      at::Tensor loss = at::cross_entropy_loss(logits, targets_of(batch));
      optimizer.zero_grad();
      loss.backward();
      if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(batch.size());
      seen += static_cast<int64_t>(batch.size());
      bar.advance(static_cast<int64_t>(batch.size()));
      if (bar.shown()) bar.note("loss " + std::to_string(loss_sum / static_cast<double>(seen)).substr(0, 6));
    }
    bar.finish();
    at::Tensor probs = predict(input, ref.x, valid);
    const double vloss = at::cross_entropy_loss(probs.clamp_min(1e-12).log(), valid_targets, {}, at::Reduction::Mean,
                                                -100, 0.0).item<double>();
    at::Tensor pred = probs.argmax(1);
    const double vacc = pred.eq(valid_targets).to(at::kDouble).mean().item<double>();
    nlohmann::json line = {{"epoch", epoch}, {"lr", lr}, {"train_loss", loss_sum / std::max<int64_t>(1, seen)},
                           {"valid_loss", vloss}, {"valid_accuracy", vacc}};
    epochs.push_back(line);
    std::cerr << "finetune-annotate: " << line.dump() << "\n";
    if (vloss < best_loss) {
      best_loss = vloss;
      best_epoch = epoch;
      best_model = snapshot(model->module());
      best_head = snapshot(*head);
    }
  }
  restore(model->module(), best_model);
  restore(*head, best_head);

  // Predictions: the query, or every cell of the input (its split says which are honest).
  const bool has_query = !o.query.empty();
  Cells qry = has_query ? read_cells(o.query, vocab, o, false) : Cells{};
  const Cells& target = has_query ? qry : ref;
  const CellInput target_input(vocab, conv, target.var_to_id, o.max_length, false, o.seed);
  std::vector<int64_t> every(static_cast<size_t>(target.n));
  for (int64_t i = 0; i < target.n; ++i) every[i] = i;
  at::Tensor probs = predict(target_input, target.x, every).contiguous();
  std::vector<int32_t> pred(static_cast<size_t>(target.n));
  std::vector<float> pred_prob(static_cast<size_t>(target.n));
  std::vector<std::string> pred_label(static_cast<size_t>(target.n));
  {
    at::Tensor mx = std::get<0>(probs.max(1)).contiguous(), am = std::get<1>(probs.max(1)).contiguous();
    for (int64_t i = 0; i < target.n; ++i) {
      pred[i] = static_cast<int32_t>(am.data_ptr<int64_t>()[i]);
      pred_prob[i] = mx.data_ptr<float>()[i];
      pred_label[i] = enc.classes[pred[i]];
    }
  }

  // Scores on the cells nobody trained on: the query (when labelled) or the test part.
  nlohmann::json results = {{"task", "finetune-annotate"}, {"model", o.model_dir}, {"structure", structure},
                             {"input", o.input}, {"query", o.query}, {"label_col", o.label_col},
                             {"classes", enc.classes}, {"n_train", train.size()}, {"n_valid", valid.size()},
                             {"epochs", epochs}, {"best_epoch", best_epoch}, {"best_valid_loss", best_loss},
                             {"settings", {{"lr", o.lr}, {"step_gamma", o.step_gamma}, {"grad_clip", o.grad_clip},
                                           {"batch_size", o.batch_size}, {"freeze", o.freeze},
                                           {"n_layers_cls", o.n_layers_cls}, {"max_length", o.max_length},
                                           {"seed", o.seed}}}};
  std::vector<int32_t> truth, scored_pred;
  int64_t unknown_labels = 0;
  if (has_query) {
    if (!qry.labels.empty()) {
      truth = eval::encode_with(qry.labels, enc.classes);
      for (size_t i = 0; i < truth.size(); ++i)
        if (truth[i] < 0 && qry.labels[i] != "" && qry.labels[i] != "nan") ++unknown_labels;
      scored_pred = pred;
    }
  } else {
    for (int64_t i : test) {
      truth.push_back(enc.codes[i]);
      scored_pred.push_back(pred[i]);
    }
  }
  eval::Report report;
  report.title = "scfm finetune-annotate: " + fs::path(has_query ? o.query : o.input).filename().string();
  eval::Table summary;
  summary.title = "Annotation";
  summary.columns = {"metric", "value"};
  summary.rows.push_back({"structure", structure});
  summary.rows.push_back({"cells trained / validated", std::to_string(train.size()) + " / " + std::to_string(valid.size())});
  summary.rows.push_back({"best epoch (validation loss)", std::to_string(best_epoch) + " (" + eval::cell(best_loss) + ")"});
  if (!truth.empty()) {
    eval::ClassificationMetrics m = eval::classification_metrics(truth, scored_pred, enc.classes);
    results["test"] = eval::to_json(m);
    results["test"]["cells"] = has_query ? "query" : "test split of the input";
    results["test"]["labels_not_in_reference"] = unknown_labels;
    summary.rows.push_back({"test cells", std::to_string(m.n) + (has_query ? " (query)" : " (held-out split)")});
    summary.rows.push_back({"accuracy", eval::cell(m.accuracy)});
    summary.rows.push_back({"macro-F1", eval::cell(m.macro_f1)});
    eval::Table per;
    per.title = "Per class (test cells)";
    per.columns = {"class", "precision", "recall", "F1", "support"};
    for (int64_t c = 0; c < k; ++c)
      per.rows.push_back({enc.classes[c], eval::cell(m.precision[c]), eval::cell(m.recall[c]), eval::cell(m.f1[c]),
                          std::to_string(m.support[c])});
    report.tables.push_back(summary);
    report.tables.push_back(per);
    report.svgs.push_back({"confusion.svg", eval::confusion_svg(m, "finetune-annotate (" + structure + ")")});
  } else {
    report.tables.push_back(summary);
    report.notes.push_back("The query has no `" + o.label_col + "` column: predictions only, no scores.");
  }

  // The fine-tuned model as a checkpoint folder.
  // Written whole into a temporary folder, then swapped in: a killed run leaves the old folder or
  // the new one, never a new best_model.pt beside an old cls_head.pt.
  const std::string model_out = (fs::path(o.out_dir) / "model").string();
  fs::create_directories(o.out_dir);
  util::AtomicPath model_folder(model_out);
  const std::string model_tmp = model_folder.make_folder();
  nlohmann::json args = base_args;
  args["n_cls"] = k;
  args["n_layers_cls"] = o.n_layers_cls;
  args["cls_classes"] = enc.classes;
  args["finetune"] = results["settings"];
  model::StateDict head_state;
  for (auto& [name, t] : model::module_state(*head)) head_state.emplace_back("cls_decoder." + name, t);
  model::StateDict weights;
  for (auto& kv : model::module_state(model->module()))
    if (kv.first.rfind("cls_decoder.", 0) != 0) weights.push_back(kv);
  if (structure == "scgpt") {
    args["cls_decoder"] = true;
    weights.insert(weights.end(), head_state.begin(), head_state.end());
  }
  model::save_state_dict(weights, model_tmp + "/best_model.pt");
  model::save_state_dict(head_state, model_tmp + "/cls_head.pt");
  vocab.save(model_tmp + "/vocab.json");
  eval::write_text(model_tmp + "/args.json", args.dump(2) + "\n");
  model_folder.commit();
  results["model_folder"] = model_out;

  // Predictions into the .h5ad.
  const std::string annotated = o.annotated.empty() ? (fs::path(o.out_dir) / "annotated.h5ad").string() : o.annotated;
  io::update_h5ad(target.path, annotated, [&](io::AnnData& ad) {
    io::dataframe_set_column(ad.obs(), "scfm_pred", io::make_categorical_from_labels(pred_label));
    io::dataframe_set_column(ad.obs(), "scfm_pred_prob", io::make_array(io::Array::from(pred_prob)));
    if (!has_query) io::dataframe_set_column(ad.obs(), "scfm_split", io::make_categorical_from_labels(split_name));
    if (ad.root.child("obsm") == nullptr) ad.root.set("obsm", io::make_dict());
    std::vector<float> p(probs.data_ptr<float>(), probs.data_ptr<float>() + probs.numel());
    ad.root.child("obsm")->set("scfm_pred_probs", io::make_array(io::Array::from(p, {target.n, k})));
    if (ad.root.child("uns") == nullptr) ad.root.set("uns", io::make_dict());
    io::Node s = io::make_dict();
    s.set("classes", io::make_string_array(enc.classes));
    s.set("model", io::make_string(o.model_dir));
    s.set("structure", io::make_string(structure));
    s.set("label_col", io::make_string(o.label_col));
    s.set("best_epoch", io::make_scalar<int64_t>(best_epoch));
    ad.root.child("uns")->set("scfm_finetune", std::move(s));
  });
  results["annotated"] = annotated;
  results["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.results = results;
  report.notes.push_back("Predictions: `" + annotated + "` (obs `scfm_pred`, `scfm_pred_prob`" +
                         std::string(has_query ? "" : ", `scfm_split`") + "; obsm `scfm_pred_probs`). Fine-tuned model: `" +
                         model_out + "`.");
  eval::write_report(o.out_dir, report);
  return results;
}

}  // namespace scfm::tasks
