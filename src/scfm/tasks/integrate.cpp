#include "scfm/tasks/integrate.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/linalg_vector_norm.h>
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
#include <fstream>
#include <iostream>
#include <numeric>

#include "scfm/data/masking.h"
#include "scfm/data/random.h"
#include "scfm/eval/dataset.h"
#include "scfm/eval/report.h"
#include "scfm/io/array.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/factory.h"
#include "scfm/model/scgpt/load.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/hvg.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/tasks/scgpt_finetune.h"
#include "scfm/train/objective.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace fs = std::filesystem;

namespace scfm::tasks {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Minibatches of one batch label each: cells of each batch in a keyed order, cut into pieces of
// batch_size, the pieces in a keyed order (scGPT's per_seq_batch_sample).
std::vector<std::vector<int64_t>> batch_pure_minibatches(const std::vector<int32_t>& batch, int32_t n_batches,
                                                         int64_t batch_size, uint64_t seed, int64_t epoch) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const std::vector<int64_t> order = data::keyed_permutation(n, seed, epoch, -1);
  std::vector<std::vector<int64_t>> by(static_cast<size_t>(n_batches));
  for (int64_t i : order) by[batch[i]].push_back(i);
  std::vector<std::vector<int64_t>> pieces;
  for (const auto& cells : by)
    for (size_t s = 0; s < cells.size(); s += static_cast<size_t>(batch_size))
      pieces.emplace_back(cells.begin() + s, cells.begin() + std::min(cells.size(), s + batch_size));
  std::vector<std::vector<int64_t>> out;
  for (int64_t i : data::keyed_permutation(static_cast<int64_t>(pieces.size()), seed, epoch, -2)) out.push_back(std::move(pieces[i]));
  return out;
}

at::Tensor l2_rows(const at::Tensor& x) { return x / at::linalg_vector_norm(x, 2, {1}, true).clamp_min(1e-12); }

}  // namespace

nlohmann::json integrate(const IntegrateOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty() || o.output.empty()) throw Error("integrate: --out (a folder) and --out-h5ad are required");
  if (o.epochs < 1 || o.batch_size < 2 || o.n_hvg < 1) throw Error("integrate: --epochs >= 1, --batch-size >= 2, --n-hvg >= 1");
  if (o.mask_ratio <= 0 || o.mask_ratio >= 1) throw Error("integrate: --mask-ratio must be in (0, 1)");

  // ---- the input, checked before any work
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData meta = io::read_h5ad(o.input, ro);
  const eval::Encoded batch = eval::required_codes(o.input, meta, o.batch_col, "batch");
  if (batch.classes.size() < 2)
    throw FormatError(o.input, "obs/" + o.batch_col,
                      "only one batch (" + (batch.classes.empty() ? std::string("none") : batch.classes[0]) +
                          "); integration needs at least two");
  const bool scored = o.metrics && !o.label_col.empty();
  if (scored) (void)eval::required_codes(o.input, meta, o.label_col, "label");
  const int32_t n_batches = static_cast<int32_t>(batch.classes.size());

  // ---- the pretrained model: scGPT's TransformerModel only
  const nlohmann::json ck_args = read_scgpt_args(o.model_dir, "integrate", "batch tokens, DSBN, DAB");
  model::scgpt::ScGptCheckpoint ck = model::scgpt::load_checkpoint_folder(o.model_dir);
  if (ck.vocab.size() == 0) throw FormatError(o.model_dir, "vocab.json", "missing; the genes cannot be matched");
  const io::Vocab& vocab = ck.vocab;
  model::scgpt::ScGptConfig cfg = ck.config;
  cfg.use_batch_labels = o.batch_labels;
  cfg.num_batch_labels = n_batches;
  cfg.domain_spec_batchnorm = o.dsbn ? "dsbn" : "";
  cfg.do_dab = o.dab;
  cfg.explicit_zero_prob = o.explicit_zero_prob;
  cfg.do_mvc = cfg.do_mvc || o.gepc;
  cfg.ecs_threshold = o.ecs_threshold;
  cfg.cls_decoder = false;
  const int64_t pad_id = vocab.id(cfg.pad_token);
  torch::manual_seed(o.seed);
  model::scgpt::TransformerModel net(cfg, pad_id);
  model::scgpt::ScGptLoadOptions lo;
  lo.allow_partial = true;
  const model::scgpt::KeyReport keys =
      model::scgpt::load_state(*net, model::module_state(*ck.model), lo, ck.files.weights);
  std::cerr << "integrate: " << keys.loaded << " of " << keys.model_tensors << " tensors from " << ck.files.weights
            << "; the rest (integration parts, decoders that now read [cell, batch]) start fresh\n";

  // ---- genes: the vocabulary's, then seurat_v3 HVGs per batch on the counts
  const io::GeneMatch match = match_model_genes(vocab, meta, o.gene_col, o.input, "integrate");
  io::H5adStreamOptions so;
  so.layer = o.layer;
  io::H5adMatrixReader reader(o.input, so);
  const int64_t n = reader.n_rows();
  const io::CsrMatrix counts = reader.read_rows(0, n);
  std::vector<int32_t> in_vocab;  // input columns in the vocabulary
  for (int64_t c = 0; c < counts.n_cols; ++c)
    if (match.var_to_id[c] >= 0) in_vocab.push_back(static_cast<int32_t>(c));
  std::vector<int32_t> col_to_sub(static_cast<size_t>(counts.n_cols), -1);
  for (size_t j = 0; j < in_vocab.size(); ++j) col_to_sub[in_vocab[j]] = static_cast<int32_t>(j);
  io::CsrMatrix sub;
  sub.n_rows = n;
  sub.n_cols = static_cast<int64_t>(in_vocab.size());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t e = counts.indptr[r]; e < counts.indptr[r + 1]; ++e)
      if (col_to_sub[counts.indices[e]] >= 0 && counts.data[e] != 0) {
        sub.indices.push_back(col_to_sub[counts.indices[e]]);
        sub.data.push_back(counts.data[e]);
      }
    sub.indptr.push_back(static_cast<int64_t>(sub.indices.size()));
  }
  std::vector<int32_t> genes_sub;  // chosen columns of `sub`
  if (o.n_hvg >= sub.n_cols) {
    genes_sub.resize(static_cast<size_t>(sub.n_cols));
    std::iota(genes_sub.begin(), genes_sub.end(), 0);
  } else {
    pp::HighlyVariableGenesOptions ho;
    ho.flavor = pp::HvgFlavor::SeuratV3;
    ho.n_top_genes = o.n_hvg;
    ho.batch = batch.codes;
    const pp::HighlyVariableGenes hv = pp::highly_variable_genes(sub, ho);
    for (int64_t c = 0; c < sub.n_cols; ++c)
      if (hv.highly_variable[c]) genes_sub.push_back(static_cast<int32_t>(c));
  }
  const int64_t g = static_cast<int64_t>(genes_sub.size()), len = g + 1;
  std::vector<int32_t> sub_to_tok(static_cast<size_t>(sub.n_cols), -1);
  std::vector<int64_t> token_ids{vocab.cls_id()};
  for (int64_t j = 0; j < g; ++j) {
    sub_to_tok[genes_sub[j]] = static_cast<int32_t>(j + 1);
    token_ids.push_back(match.var_to_id[in_vocab[genes_sub[j]]]);
  }
  // per-cell bins of the chosen genes' counts (zeros stay 0), dense n x len with <cls> = 0
  io::CsrMatrix chosen;
  chosen.n_rows = n;
  chosen.n_cols = len;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t e = sub.indptr[r]; e < sub.indptr[r + 1]; ++e)
      if (sub_to_tok[sub.indices[e]] > 0) {
        chosen.indices.push_back(sub_to_tok[sub.indices[e]]);
        chosen.data.push_back(sub.data[e]);
      }
    chosen.indptr.push_back(static_cast<int64_t>(chosen.indices.size()));
  }
  // values as the checkpoint was pretrained: per-cell bins (scGPT's releases and the tutorial),
  // or log1p(x * 1e4 / total over the vocabulary genes) for scfm runs pretrained on it
  const model::InputConventions conv = model::input_conventions(ck_args);
  std::vector<float> values(static_cast<size_t>(n * len), 0.0f);
  for (int64_t r = 0; r < n; ++r) values[r * len] = conv.cls_value;
  if (conv.binned) {
    pp::BinningOptions bo;
    bo.n_bins = o.n_bins;
    bo.mode = pp::BinningMode::Keyed;
    bo.seed = o.seed;
    const pp::BinnedMatrix binned = pp::binning(chosen, bo);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t e = chosen.indptr[r]; e < chosen.indptr[r + 1]; ++e)
        values[r * len + chosen.indices[e]] = static_cast<float>(binned.bins[e]);
  } else {
    const std::vector<double> totals = sub.row_sums();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t e = chosen.indptr[r]; e < chosen.indptr[r + 1]; ++e)
        values[r * len + chosen.indices[e]] =
            totals[r] > 0 ? static_cast<float>(std::log1p(chosen.data[e] * 1e4 / totals[r])) : 0.0f;
  }
  const at::Tensor gene_row = at::tensor(token_ids, at::kLong).unsqueeze(0);

  auto batch_tensors = [&](const std::vector<int64_t>& cells) {
    const int64_t b = static_cast<int64_t>(cells.size());
    at::Tensor v = at::empty({b, len}, at::kFloat);
    std::vector<int64_t> bl;
    for (int64_t i = 0; i < b; ++i) {
      std::copy(values.begin() + cells[i] * len, values.begin() + (cells[i] + 1) * len, v.data_ptr<float>() + i * len);
      bl.push_back(batch.codes[cells[i]]);
    }
    return std::make_pair(v, at::tensor(bl, at::kLong));
  };
  const at::Tensor no_pad_row = at::zeros({1, len}, at::kBool);

  // ---- fine-tune
  std::vector<at::Tensor> params = net->parameters();
  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(o.lr));
  data::MaskOptions mo;
  mo.mask_ratio = o.mask_ratio;
  mo.mask_value = static_cast<float>(cfg.mask_value);
  nlohmann::json log = nlohmann::json::array();
  int64_t steps = 0, cells_trained = 0;
  double train_seconds = 0;
  bool stop = false;
  for (int64_t epoch = 1; epoch <= o.epochs && !stop; ++epoch) {
    const auto te = std::chrono::steady_clock::now();
    const double lr = set_step_lr(optimizer, o.lr, o.step_gamma, epoch);
    net->train();
    double sums[6] = {0, 0, 0, 0, 0, 0};  // mse, zero nll, gepc, gepc zero nll, ecs, dab
    int64_t n_batches_seen = 0;
    const auto minibatches = batch_pure_minibatches(batch.codes, n_batches, o.batch_size, o.seed, epoch);
    util::Progress bar("integrate epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs),
                       static_cast<int64_t>(minibatches.size()), "batches");
    for (const auto& cells : minibatches) {
      bar.advance();
      auto [target, labels] = batch_tensors(cells);
      const int64_t b = static_cast<int64_t>(cells.size());
      at::Tensor masked = target.clone();
      at::Tensor pos = at::zeros({b, len}, at::kByte);
      for (int64_t i = 0; i < b; ++i) {
        data::KeyedRandom rs(o.seed, epoch, cells[i], data::RandomPurpose::mask);
        data::mask_cell(target.data_ptr<float>() + i * len, len, true, static_cast<float>(cfg.pad_value), mo, rs,
                        masked.data_ptr<float>() + i * len, pos.data_ptr<uint8_t>() + i * len);
      }
      const at::Tensor mask = pos.to(at::kBool);
      model::scgpt::ForwardOptions fo;
      fo.mvc = o.gepc;
      fo.ecs = o.ecs;
      const model::scgpt::ForwardOutput out =
          net->forward(gene_row.expand({b, len}), masked, no_pad_row.expand({b, len}), labels, fo);
      const at::Tensor count = mask.sum().to(at::kFloat).clamp_min(1);
      at::Tensor loss = train::masked_sse(out.mlm_output, target, mask) / count;
      sums[0] += loss.item<double>();
      if (o.explicit_zero_prob) {
        at::Tensor z = train::masked_bernoulli_nll_sum(out.mlm_zero_probs, target, mask) / count;
        sums[1] += z.item<double>();
        loss = loss + z;
      }
      if (o.gepc) {
        at::Tensor l = train::masked_sse(out.mvc_output, target, mask) / count;
        sums[2] += l.item<double>();
        loss = loss + l;
        if (o.explicit_zero_prob) {
          at::Tensor z = train::masked_bernoulli_nll_sum(out.mvc_zero_probs, target, mask) / count;
          sums[3] += z.item<double>();
          loss = loss + z;
        }
      }
      if (o.ecs) {
        at::Tensor l = o.ecs_weight * out.loss_ecs;
        sums[4] += l.item<double>();
        loss = loss + l;
      }
      if (o.dab) {
        at::Tensor l = at::cross_entropy_loss(out.dab_output, labels);
        sums[5] += l.item<double>();
        loss = loss + o.dab_weight * l;
      }
      optimizer.zero_grad();
      loss.backward();
      if (o.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
      optimizer.step();
      ++n_batches_seen;
      ++steps;
      cells_trained += b;
      if (o.max_steps > 0 && steps >= o.max_steps) {
        stop = true;
        break;
      }
    }
    const double secs = seconds_since(te);
    train_seconds += secs;
    const double nb = static_cast<double>(std::max<int64_t>(1, n_batches_seen));
    nlohmann::json line = {{"epoch", epoch}, {"lr", lr},          {"steps", steps},       {"mse", sums[0] / nb},
                           {"zero_nll", sums[1] / nb}, {"gepc", sums[2] / nb}, {"gepc_zero_nll", sums[3] / nb},
                           {"ecs", sums[4] / nb},      {"dab", sums[5] / nb},  {"seconds", secs}};
    bar.finish();
    std::cerr << "integrate: " << line.dump() << "\n";
    log.push_back(line);
  }

  // ---- embeddings: integrated (batch labels, one batch per minibatch for DSBN) and zero-shot
  auto embed = [&](torch::nn::Module& m, bool integrated) {
    torch::NoGradGuard ng;
    m.eval();
    std::vector<float> emb;
    int64_t width = 0;
    for (const auto& cells : batch_pure_minibatches(batch.codes, n_batches, o.batch_size, o.seed, 0)) {
      auto [v, labels] = batch_tensors(cells);
      const int64_t b = static_cast<int64_t>(cells.size());
      const at::Tensor genes = gene_row.expand({b, len}), pad = no_pad_row.expand({b, len});
      at::Tensor e = integrated ? net->forward(genes, v, pad, labels).cell_emb : ck.model->forward(genes, v, pad).cell_emb;
      e = l2_rows(e).contiguous();
      width = e.size(1);
      if (emb.empty()) emb.assign(static_cast<size_t>(n * width), 0.0f);
      for (int64_t i = 0; i < b; ++i)
        std::copy(e.data_ptr<float>() + i * width, e.data_ptr<float>() + (i + 1) * width, emb.begin() + cells[i] * width);
    }
    return std::make_pair(emb, width);
  };
  const auto [integrated, width] = embed(*net, true);
  std::vector<float> zero_shot;
  int64_t zs_width = 0;
  if (!o.zero_shot_key.empty()) std::tie(zero_shot, zs_width) = embed(*ck.model, false);

  // ---- outputs: the checkpoint folder, metrics.jsonl, the .h5ad, then the metrics report
  nlohmann::json settings = {
      {"model", o.model_dir}, {"n_hvg", g}, {"values", conv.binned ? "binned" : "log1p"}, {"n_bins", o.n_bins}, {"mask_ratio", o.mask_ratio}, {"epochs", o.epochs},
      {"batch_size", o.batch_size}, {"lr", o.lr}, {"step_gamma", o.step_gamma}, {"ecs_threshold", o.ecs_threshold},
      {"ecs_weight", o.ecs_weight}, {"dab_weight", o.dab_weight}, {"dsbn", o.dsbn}, {"dab", o.dab}, {"ecs", o.ecs},
      {"gepc", o.gepc}, {"explicit_zero_prob", o.explicit_zero_prob}, {"seed", o.seed}, {"batches", batch.classes}};
  const std::string model_out = (fs::path(o.out_dir) / "model").string();
  fs::create_directories(model_out);
  nlohmann::json args = cfg.to_json();
  args["model_structure"] = "scgpt";
  args["integrate"] = settings;
  model::save_state_dict(model::module_state(*net), model_out + "/best_model.pt");
  vocab.save(model_out + "/vocab.json");
  eval::write_text(model_out + "/args.json", args.dump(2) + "\n");
  std::string jsonl;
  for (const auto& l : log) jsonl += l.dump() + "\n";
  eval::write_text((fs::path(o.out_dir) / "metrics.jsonl").string(), jsonl);
  io::update_h5ad(o.input, o.output, [&](io::AnnData& ad) {
    if (ad.root.child("obsm") == nullptr) ad.root.set("obsm", io::make_dict());
    ad.root.child("obsm")->set(o.key, io::make_array(io::Array::from(integrated, {n, width})));
    if (!zero_shot.empty())
      ad.root.child("obsm")->set(o.zero_shot_key, io::make_array(io::Array::from(zero_shot, {n, zs_width})));
    if (ad.root.child("uns") == nullptr) ad.root.set("uns", io::make_dict());
    io::Node s = io::make_dict();
    s.set("model", io::make_string(o.model_dir));
    s.set("settings", io::make_string(settings.dump()));
    ad.root.child("uns")->set("scfm_integrate", std::move(s));
  });

  nlohmann::json results = {{"settings", settings}, {"epochs", log}, {"keys", keys.to_json()},
                            {"n_cells", n}, {"steps", steps},
                            {"finetune_cells_per_s", train_seconds > 0 ? cells_trained / train_seconds : 0.0},
                            {"model_folder", model_out}, {"output", o.output}};
  if (scored) {
    MetricsOptions mo2 = o.metric_options;
    mo2.input = o.output;
    mo2.embeddings.clear();
    if (!zero_shot.empty()) mo2.embeddings.push_back(o.zero_shot_key);
    mo2.embeddings.push_back(o.key);
    mo2.batch_col = o.batch_col;
    mo2.label_col = o.label_col;
    mo2.out_dir = o.out_dir;
    results["metrics"] = integration_metrics(mo2);
  }
  results["seconds"] = seconds_since(t0);
  eval::write_text((fs::path(o.out_dir) / "integrate.json").string(), results.dump(2) + "\n");
  return results;
}

}  // namespace scfm::tasks
