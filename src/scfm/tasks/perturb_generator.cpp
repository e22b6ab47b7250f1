#include "scfm/tasks/perturb_generator.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <map>

#include "scfm/data/random.h"
#include "scfm/util/error.h"

namespace scfm::tasks {

std::vector<int64_t> cells_of_conditions(const PerturbData& d, const std::vector<std::string>& conditions) {
  std::vector<int64_t> out;
  for (const auto& c : conditions) {
    const auto& cells = d.cells_of[d.condition_index(c)];
    out.insert(out.end(), cells.begin(), cells.end());
  }
  return out;
}

GeneratorInput::GeneratorInput(const PerturbData& d, const io::Vocab& vocab, const std::string& vocab_source,
                               int64_t max_seq_len, uint64_t seed)
    : d_(d), max_seq_len_(max_seq_len), seed_(seed) {
  if (max_seq_len < 2) throw Error("perturb: --max-seq-len must be at least 2");
  const int64_t pad = vocab.id("<pad>");
  std::vector<std::string> missing;
  for (const auto& g : d.genes) {
    const int64_t id = vocab.contains(g) ? vocab.id(g) : -1;
    if (id < 0) ++n_not_in_vocab_;
    gene_ids_.push_back(id >= 0 ? id : pad);
  }
  for (size_t c = 0; c < d.conditions.size(); ++c) {
    std::vector<int64_t> idx;
    for (const auto& g : d.parsed[c].genes) {
      const int64_t j = d.gene_index(g);
      if (j < 0) throw FormatError(d.path, "var/gene_name", "perturbed gene '" + g + "' is not a gene of the file");
      if (!vocab.contains(g)) missing.push_back(g + " (" + d.conditions[c] + ")");
      idx.push_back(j);
    }
    perturbed_.push_back(std::move(idx));
  }
  if (!missing.empty()) {
    std::sort(missing.begin(), missing.end());
    missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 20; ++i) list += (i ? ", " : "") + missing[i];
    throw FormatError(vocab_source, "vocabulary",
                      std::to_string(missing.size()) + " perturbed gene(s) not in the model's vocabulary: " + list +
                          (missing.size() > 20 ? ", ..." : "") + "; the model cannot flag a gene it has no token for");
  }
  // controls, by cell type when there are several
  std::map<std::string, int32_t> type_code;
  const bool typed = !d.cell_type.empty() &&
                     std::any_of(d.cell_type.begin(), d.cell_type.end(), [&](const std::string& t) { return t != d.cell_type[0]; });
  type_of_.assign(static_cast<size_t>(d.n_cells), 0);
  if (typed) {
    for (int64_t i = 0; i < d.n_cells; ++i) {
      auto it = type_code.emplace(d.cell_type[i], static_cast<int32_t>(type_code.size())).first;
      type_of_[i] = it->second;
    }
  }
  controls_by_type_.assign(std::max<size_t>(1, type_code.size()), {});
  for (int64_t i : d.cells_of[d.ctrl]) controls_by_type_[type_of_[i]].push_back(i);
  for (int64_t i = 0; i < d.n_cells; ++i)
    if (controls_by_type_[type_of_[i]].empty()) type_of_[i] = -1;  // no control of this type: any control
  if (typed) {
    std::vector<int64_t> all = d.cells_of[d.ctrl];
    controls_by_type_.push_back(all);
    for (auto& t : type_of_)
      if (t < 0) t = static_cast<int32_t>(controls_by_type_.size() - 1);
  }
}

int64_t GeneratorInput::control_for(int64_t cell, int64_t epoch) const {
  if (d_.cell_condition[cell] == d_.ctrl) return cell;
  const auto& pool = controls_by_type_[type_of_[cell]];
  data::KeyedRandom rs(seed_, epoch, cell, data::RandomPurpose::balance);
  return pool[rs.below(pool.size())];
}

GeneratorInput::Batch GeneratorInput::batch(const std::vector<int64_t>& cells, int64_t epoch, int32_t condition) const {
  const int64_t g = d_.n_genes, b = static_cast<int64_t>(cells.size());
  const int64_t len = std::min(g, max_seq_len_);
  Batch out;
  out.genes = at::empty({b, len}, at::kLong);
  out.values = at::empty({b, len}, at::kFloat);
  out.flags = at::zeros({b, len}, at::kLong);
  out.target = at::empty({b, len}, at::kFloat);
  out.positions = at::empty({b, len}, at::kLong);
  std::vector<int64_t> pos(static_cast<size_t>(len));
  for (int64_t r = 0; r < b; ++r) {
    const int64_t cell = cells[r];
    const int32_t cond = condition >= 0 ? condition : d_.cell_condition[cell];
    const std::vector<int64_t>& pert = perturbed_[cond];
    if (len == g) {
      for (int64_t j = 0; j < g; ++j) pos[j] = j;
    } else {  // the perturbed genes, then a keyed sample of the others
      std::vector<int64_t> rest;
      for (int64_t j = 0; j < g; ++j)
        if (std::find(pert.begin(), pert.end(), j) == pert.end()) rest.push_back(j);
      data::KeyedRandom rs(seed_, epoch, cell, data::RandomPurpose::subsample);
      const int64_t need = len - static_cast<int64_t>(pert.size());
      for (int64_t k = 0; k < need; ++k) {
        const int64_t m = k + static_cast<int64_t>(rs.below(rest.size() - k));
        std::swap(rest[k], rest[m]);
      }
      std::copy(pert.begin(), pert.end(), pos.begin());
      std::copy(rest.begin(), rest.begin() + need, pos.begin() + static_cast<int64_t>(pert.size()));
      std::sort(pos.begin(), pos.end());
    }
    const float* in = d_.row(control_for(cell, epoch));
    const float* tg = d_.row(cell);
    int64_t* gp = out.genes.data_ptr<int64_t>() + r * len;
    float* vp = out.values.data_ptr<float>() + r * len;
    int64_t* fp = out.flags.data_ptr<int64_t>() + r * len;
    float* tp = out.target.data_ptr<float>() + r * len;
    int64_t* pp = out.positions.data_ptr<int64_t>() + r * len;
    for (int64_t k = 0; k < len; ++k) {
      const int64_t j = pos[k];
      gp[k] = gene_ids_[j];
      vp[k] = in[j];
      tp[k] = tg[j];
      pp[k] = j;
      fp[k] = std::find(pert.begin(), pert.end(), j) != pert.end() ? 1 : 0;
    }
  }
  return out;
}

std::vector<double> GeneratorInput::predict_mean(model::scgpt::TransformerModelImpl& net, const std::vector<int64_t>& cells,
                                                 int32_t condition, int64_t batch_size) const {
  if (cells.empty()) throw Error("perturb predict: no cells to predict from");
  torch::NoGradGuard ng;
  net.eval();
  const int64_t g = d_.n_genes;
  std::vector<double> sum(static_cast<size_t>(g), 0.0);
  for (size_t s = 0; s < cells.size(); s += static_cast<size_t>(batch_size)) {
    const std::vector<int64_t> part(cells.begin() + s, cells.begin() + std::min(cells.size(), s + batch_size));
    const Batch bt = batch(part, 0, condition);
    const int64_t b = bt.genes.size(0), len = bt.genes.size(1);
    const at::Tensor pad = at::zeros({b, len}, at::kBool);
    const at::Tensor pred = net.forward(bt.genes, bt.values, pad, {}, {}, bt.flags).mlm_output.contiguous();
    const float* p = pred.data_ptr<float>();
    const int64_t* pp = bt.positions.data_ptr<int64_t>();
    for (int64_t r = 0; r < b; ++r) {
      // genes outside this cell's tokens: its control's value (no change predicted)
      std::vector<double> row(d_.row(control_for(part[r], 0)), d_.row(control_for(part[r], 0)) + g);
      for (int64_t k = 0; k < len; ++k) row[pp[r * len + k]] = p[r * len + k];
      for (int64_t j = 0; j < g; ++j) sum[j] += row[j];
    }
  }
  for (double& v : sum) v /= static_cast<double>(cells.size());
  return sum;
}

}  // namespace scfm::tasks
