#include "scfm/tasks/perturb_scbench.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>

#include "scfm/data/random.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/tasks/perturb_eval.h"
#include "scfm/tasks/perturb_generator.h"
#include "scfm/tasks/scgpt_finetune.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct Tokens {
  at::Tensor src, mask, values, loss;  // (b, len + 1): ids, pads, the cell's own values, gene tokens
  std::vector<int64_t> gene;           // b * (len + 1): the file's gene index per token, -1 at <cls> and pads
};

class ScbenchInput {
 public:
  ScbenchInput(const PerturbData& d, const io::Vocab& vocab, int64_t len, uint64_t seed)
      : d_(d), len_(len), seed_(seed), cls_(vocab.cls_id()), pad_(vocab.pad_id()) {
    for (const auto& g : d.genes) vid_.push_back(vocab.id(g));
  }
  int64_t vocab_id(int64_t gene) const { return vid_[gene]; }

  // The expressed genes of `cell` in the vocabulary (a weighted sample of len when more), keyed
  // by (seed, epoch, cell); values from the same cell.
  Tokens batch(const std::vector<int64_t>& cells, int64_t epoch) const {
    const int64_t b = static_cast<int64_t>(cells.size()), t = len_ + 1;
    Tokens k{at::full({b, t}, pad_, at::kLong), at::ones({b, t}, at::kBool), at::zeros({b, t}, at::kFloat),
             at::zeros({b, t}, at::kBool), std::vector<int64_t>(static_cast<size_t>(b * t), -1)};
    for (int64_t r = 0; r < b; ++r) {
      const float* x = d_.row(cells[r]);
      std::vector<int64_t> genes;
      std::vector<double> w;
      for (int64_t j = 0; j < d_.n_genes; ++j)
        if (x[j] != 0 && vid_[j] >= 0) genes.push_back(j);
      if (static_cast<int64_t>(genes.size()) > len_) {
        double lo = x[genes[0]];
        for (int64_t j : genes) lo = std::min(lo, static_cast<double>(x[j]));
        for (int64_t j : genes) w.push_back(x[j] - lo + 1e-5);
        data::KeyedRandom rs(seed_, epoch, cells[r], data::RandomPurpose::subsample);
        std::vector<int64_t> pick = data::weighted_sample_without_replacement(rs, w, len_), kept;
        for (int64_t p : pick) kept.push_back(genes[p]);
        genes = std::move(kept);
      }
      int64_t* sp = k.src.data_ptr<int64_t>() + r * t;
      bool* mp = k.mask.data_ptr<bool>() + r * t;
      float* vp = k.values.data_ptr<float>() + r * t;
      bool* lp = k.loss.data_ptr<bool>() + r * t;
      sp[0] = cls_;
      mp[0] = false;
      for (size_t i = 0; i < genes.size(); ++i) {
        sp[i + 1] = vid_[genes[i]];
        mp[i + 1] = false;
        vp[i + 1] = x[genes[i]];
        lp[i + 1] = true;
        k.gene[static_cast<size_t>(r * t) + i + 1] = genes[i];
      }
    }
    return k;
  }

 private:
  const PerturbData& d_;
  std::vector<int64_t> vid_;
  int64_t len_;
  uint64_t seed_;
  int64_t cls_, pad_;
};

at::Tensor masked_mse(const at::Tensor& pred, const Tokens& k) {
  const at::Tensor m = k.loss.to(pred.scalar_type());
  return ((pred - k.values).pow(2) * m).sum() / m.sum().clamp_min(1);
}

}  // namespace

nlohmann::json perturb_scbench(const PerturbScbenchOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw Error("perturb predict: --out (a folder) is required");
  if (o.batch_size < 1 || o.max_genes < 1) throw Error("perturb predict: --batch-size and --max-genes must be >= 1");
  const PerturbData d = read_perturb_data(o.input);
  {
    std::ifstream f(o.model_dir + "/args.json");
    nlohmann::json a;
    if (f) {
      try {
        f >> a;
      } catch (const std::exception&) {
      }
    }
    if (!a.contains("model_structure") || a["model_structure"] == "scgpt")
      throw FormatError(o.model_dir, "args.json",
                        "--method scbench needs a scBenchmark model (model_structure transformer, gnn_cp, cnn_base, "
                        "cnn_ours, linear_ours or linear_base); for scGPT models use perturb finetune");
  }
  std::unique_ptr<model::PretrainModel> pm = model::load_pretrain_model(o.model_dir);
  auto* sc = dynamic_cast<model::scbench::ScModelImpl*>(&pm->module());
  if (sc == nullptr) throw FormatError(o.model_dir, "args.json", "not a scBenchmark scModel");
  const io::Vocab vocab = io::Vocab::load(o.model_dir + "/vocab.json");
  const GeneratorInput pairing(d, vocab, o.model_dir + "/vocab.json", o.max_seq_len, o.seed);
  for (auto& p : sc->parameters()) p.requires_grad_(false);
  sc->eval();
  const int64_t len = sc->required_length() > 0 ? sc->required_length() - 1 : o.max_genes;
  const ScbenchInput in(d, vocab, len, o.seed);
  const int64_t dict = sc->embedding->weight.size(1);

  torch::manual_seed(o.seed);
  at::Tensor base = at::empty({1, dict}).uniform_(-1, 1).requires_grad_(true);  // Linear(1, d)'s init
  torch::nn::Linear trans(dict, dict);
  at::Tensor offset = at::empty({1, dict}).uniform_(-1, 1).requires_grad_(true);
  const at::Tensor emb = sc->embedding->weight.detach();
  auto pert_offset = [&](const std::vector<int64_t>& cells, int32_t condition) {
    std::vector<at::Tensor> rows;
    for (int64_t c : cells) {
      const int32_t k = condition >= 0 ? condition : d.cell_condition[c];
      at::Tensor p = offset.squeeze(0);
      for (const auto& g : d.parsed[k].genes) p = p + trans(emb[in.vocab_id(d.gene_index(g))]);
      rows.push_back(p);
    }
    return at::stack(rows);
  };
  auto chunks = [&](const std::vector<int64_t>& cells, int64_t epoch) {
    std::vector<int64_t> order;
    for (int64_t k : data::keyed_permutation(static_cast<int64_t>(cells.size()), o.seed, epoch, -3)) order.push_back(cells[k]);
    if (o.max_train_cells > 0 && static_cast<int64_t>(order.size()) > o.max_train_cells)
      order.resize(static_cast<size_t>(o.max_train_cells));
    std::vector<std::vector<int64_t>> out;
    for (size_t s = 0; s < order.size(); s += static_cast<size_t>(o.batch_size))
      out.emplace_back(order.begin() + s, order.begin() + std::min(order.size(), s + o.batch_size));
    return out;
  };
  std::vector<int64_t> ctrl = d.cells_of[d.ctrl], train_cells;
  for (const auto& c : d.split.train)
    if (c != "ctrl") train_cells.insert(train_cells.end(), d.cells_of[d.condition_index(c)].begin(),
                                        d.cells_of[d.condition_index(c)].end());
  std::vector<std::string> test;
  for (const auto& c : d.split.test) test.push_back(c);
  const std::vector<int64_t> test_cells = cells_of_conditions(d, test);
  nlohmann::json log = nlohmann::json::array();

  // ---- stage 1: the base offset on the control cells
  // one stage: Adam on `params`, MSE of the MVC output at the gene tokens, cells' offsets by `off`
  auto fit = [&](std::vector<at::Tensor> params, const std::vector<int64_t>& cells_in, int64_t epochs, int stage,
                 const std::function<at::Tensor(const std::vector<int64_t>&)>& off) {
    const auto ts = std::chrono::steady_clock::now();
    torch::optim::Adam opt(params, torch::optim::AdamOptions(o.lr));
    for (int64_t e = 1; e <= epochs; ++e) {
      double s = 0;
      int64_t nb = 0;
      for (const auto& cells : chunks(cells_in, 1000 * stage + e)) {
        const Tokens k = in.batch(cells, e);
        at::Tensor loss = masked_mse(sc->forward_gene_only(k.src, k.mask, off(cells)).mvc_output, k);
        opt.zero_grad();
        loss.backward();
        opt.step();
        s += loss.item<double>();
        ++nb;
      }
      log.push_back({{"stage", stage}, {"epoch", e}, {"mse", s / std::max<int64_t>(1, nb)}});
      std::cerr << "perturb scbench: " << log.back().dump() << "\n";
    }
    return seconds_since(ts);
  };
  // stage 1: the base offset on the control cells; stage 2: the perturbation offsets, base frozen
  const double stage1_seconds = fit({base}, ctrl, o.base_epochs, 1, [&](const std::vector<int64_t>&) { return base; });
  std::vector<at::Tensor> ps = trans->parameters();
  ps.push_back(offset);
  const at::Tensor b = base.detach();
  const double stage2_seconds =
      fit(ps, train_cells, o.offset_epochs, 2, [&](const std::vector<int64_t>& cells) { return b + pert_offset(cells, -1); });


  // ---- scBenchmark's three MSEs on the held-out cells (their own genes)
  torch::NoGradGuard ng;
  double s_none = 0, s_base = 0, s_final = 0, n_tok = 0;
  for (size_t s = 0; s < test_cells.size(); s += static_cast<size_t>(o.batch_size)) {
    const std::vector<int64_t> cells(test_cells.begin() + s, test_cells.begin() + std::min(test_cells.size(), s + o.batch_size));
    const Tokens k = in.batch(cells, 0);
    const double w = k.loss.sum().item<double>();
    s_none += w * masked_mse(sc->forward_gene_only(k.src, k.mask, {}).mvc_output, k).item<double>();
    s_base += w * masked_mse(sc->forward_gene_only(k.src, k.mask, base).mvc_output, k).item<double>();
    s_final += w * masked_mse(sc->forward_gene_only(k.src, k.mask, base + pert_offset(cells, -1)).mvc_output, k).item<double>();
    n_tok += w;
  }
  // ---- GEARS-style prediction: each held-out cell from its paired control's genes; the MVC head
  // predicts the genes among the control's tokens (its expressed genes, the only ones the method
  // is fitted on), every other gene keeps the control's value
  PerturbPrediction pred{"scbench (cls offset)", {}};
  for (const auto& c : test) {
    const int32_t k = d.condition_index(c);
    const std::vector<int64_t>& cells = d.cells_of[k];
    std::vector<double> sum(static_cast<size_t>(d.n_genes), 0.0);
    for (size_t s = 0; s < cells.size(); s += static_cast<size_t>(o.batch_size)) {
      std::vector<int64_t> part(cells.begin() + s, cells.begin() + std::min(cells.size(), s + o.batch_size)), controls;
      for (int64_t cell : part) controls.push_back(pairing.control_for(cell, 0));
      const Tokens t = in.batch(controls, 0);
      const at::Tensor p = sc->forward_gene_only(t.src, t.mask, base + pert_offset(part, k)).mvc_output.contiguous();
      const float* pp = p.data_ptr<float>();
      const int64_t w = p.size(1);
      for (size_t r = 0; r < part.size(); ++r) {
        std::vector<double> row(d.row(controls[r]), d.row(controls[r]) + d.n_genes);
        for (int64_t q = 0; q < w; ++q) {
          const int64_t g = t.gene[r * w + q];
          if (g >= 0) row[g] = pp[r * w + q];
        }
        for (int64_t j = 0; j < d.n_genes; ++j) sum[j] += row[j];
      }
    }
    for (double& v : sum) v /= static_cast<double>(cells.size());
    pred.mean[c] = std::move(sum);
  }
  nlohmann::json scbench = {{"mse_no_offset", s_none / std::max(1.0, n_tok)},
                            {"mse_base", s_base / std::max(1.0, n_tok)},
                            {"mse_final", s_final / std::max(1.0, n_tok)},
                            {"n_cells", test_cells.size()}};
  nlohmann::json settings = {{"model", o.model_dir}, {"input", o.input}, {"max_genes", len},
                             {"batch_size", o.batch_size}, {"lr", o.lr}, {"base_epochs", o.base_epochs},
                             {"offset_epochs", o.offset_epochs}, {"max_train_cells", o.max_train_cells},
                             {"seed", o.seed}, {"structure", pm->structure()}};
  nlohmann::json extra = {{"set", "test"}, {"settings", settings}, {"scbench_mse", scbench}, {"epochs", log},
                          {"stage1_seconds", stage1_seconds}, {"stage2_seconds", stage2_seconds}};
  nlohmann::json r = write_perturb_report(d, {pred}, test, o.out_dir, "test", extra);
  r["seconds"] = seconds_since(t0);
  return r;
}

}  // namespace scfm::tasks
