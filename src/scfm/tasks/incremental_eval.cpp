#include "scfm/tasks/incremental_eval.h"

#include <ATen/ops/from_blob.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cmath>

#include "scfm/eval/plot.h"
#include "scfm/store/reader.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::tasks {

namespace {

uint64_t key(uint64_t seed, int64_t cell, int32_t gene, uint64_t purpose) {
  uint64_t h = util::splitmix64(seed ^ 0x1BC7E5EULL);
  h = util::splitmix64(h ^ static_cast<uint64_t>(cell));
  h = util::splitmix64(h ^ static_cast<uint64_t>(static_cast<uint32_t>(gene)));
  return util::splitmix64(h ^ purpose);
}

double unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

struct EvalCell {
  std::vector<int32_t> genes;
  std::vector<float> values;
  std::vector<uint8_t> masked;
};

EvalCell make_cell(const store::CellStore& s, int64_t c, const std::vector<int32_t>& input, const MaskedEvalOptions& o) {
  const store::CellRow row = s.row(c);
  std::vector<float> v(row.values, row.values + row.n);
  data::CellInput in{c, row.ids, row.values, row.n};
  o.transform(in, 0, v);
  EvalCell e;
  // row ids and input are both ascending: a merge
  size_t p = 0;
  for (int64_t j = 0; j < row.n; ++j) {
    while (p < input.size() && input[p] < row.ids[j]) ++p;
    if (p == input.size()) break;
    if (input[p] == row.ids[j]) {
      e.genes.push_back(row.ids[j]);
      e.values.push_back(v[j]);
    }
  }
  const size_t cap = static_cast<size_t>(std::max<int64_t>(0, o.max_len - 1));
  if (e.genes.size() > cap) {
    std::vector<std::pair<uint64_t, size_t>> order(e.genes.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = {key(o.seed, c, e.genes[k], 1), k};
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(cap), order.end());
    std::vector<size_t> keep;
    for (size_t k = 0; k < cap; ++k) keep.push_back(order[k].second);
    std::sort(keep.begin(), keep.end());
    EvalCell kept;
    for (size_t k : keep) {
      kept.genes.push_back(e.genes[k]);
      kept.values.push_back(e.values[k]);
    }
    e = std::move(kept);
  }
  e.masked.resize(e.genes.size());
  for (size_t k = 0; k < e.genes.size(); ++k) e.masked[k] = unit(key(o.seed, c, e.genes[k], 2)) < o.mask_ratio;
  return e;
}

}  // namespace

GeneSetErrors masked_mse_by_gene_set(model::PretrainModel& model, const store::CellStore& store,
                                     const std::vector<int64_t>& cells, const std::vector<int32_t>& input_genes,
                                     const std::vector<int32_t>& set_of_token, int n_sets, const MaskedEvalOptions& o) {
  if (!o.transform) throw Error("masked_mse_by_gene_set: no value transform");
  if (!std::is_sorted(input_genes.begin(), input_genes.end())) throw Error("masked_mse_by_gene_set: input genes not sorted");
  GeneSetErrors r;
  r.sse.assign(static_cast<size_t>(n_sets), 0.0);
  r.n.assign(static_cast<size_t>(n_sets), 0);
  torch::nn::Module& module = model.module();
  const at::Device device(o.device);
  module.to(device);  // a model only loaded (all stages done at resume) is still on the CPU
  module.eval();
  torch::NoGradGuard no_grad;
  const int64_t bs = std::max<int64_t>(1, o.batch_size);
  for (size_t b0 = 0; b0 < cells.size(); b0 += static_cast<size_t>(bs)) {
    const size_t b1 = std::min(cells.size(), b0 + static_cast<size_t>(bs));
    std::vector<EvalCell> batch;
    int64_t t = 1;
    for (size_t i = b0; i < b1; ++i) {
      batch.push_back(make_cell(store, cells[i], input_genes, o));
      t = std::max<int64_t>(t, 1 + static_cast<int64_t>(batch.back().genes.size()));
    }
    if (o.pad_to_max_len) t = o.max_len;
    const int64_t B = static_cast<int64_t>(batch.size());
    std::vector<int64_t> genes(static_cast<size_t>(B * t), o.pad_id);
    std::vector<float> masked(static_cast<size_t>(B * t), o.pad_value);
    std::vector<uint8_t> pad(static_cast<size_t>(B * t), 1), pos(static_cast<size_t>(B * t), 0);
    for (int64_t b = 0; b < B; ++b) {
      const EvalCell& e = batch[static_cast<size_t>(b)];
      genes[b * t] = o.cls_id;
      masked[b * t] = o.cls_value;
      pad[b * t] = 0;
      for (size_t k = 0; k < e.genes.size(); ++k) {
        const int64_t q = b * t + 1 + static_cast<int64_t>(k);
        genes[q] = e.genes[k];
        masked[q] = e.masked[k] ? o.mask_value : e.values[k];
        pad[q] = 0;
        pos[q] = e.masked[k];
      }
    }
    auto tensor = [&](auto& v, at::ScalarType type) { return at::from_blob(v.data(), {B, t}, type).clone().to(device); };
    const at::Tensor g = tensor(genes, at::kLong), x = tensor(masked, at::kFloat);
    const at::Tensor padding = tensor(pad, at::kByte).to(at::kBool), mask = tensor(pos, at::kByte).to(at::kBool);
    const at::Tensor out = model.forward(g, x, padding, mask).mlm.to(at::kFloat).to(at::kCPU).contiguous();
    const float* y = out.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      const EvalCell& e = batch[static_cast<size_t>(b)];
      for (size_t k = 0; k < e.genes.size(); ++k) {
        if (!e.masked[k]) continue;
        const int32_t set = set_of_token[static_cast<size_t>(e.genes[k])];
        if (set < 0 || set >= n_sets) continue;
        const double d = static_cast<double>(y[b * t + 1 + static_cast<int64_t>(k)]) - e.values[k];
        r.sse[static_cast<size_t>(set)] += d * d;
        r.n[static_cast<size_t>(set)] += 1;
      }
    }
  }
  return r;
}

eval::Report incremental_report(const nlohmann::json& res) {
  eval::Report rep;
  rep.title = "Gene-incremental learning: masked-expression MSE on held-out cells";
  rep.results = res;
  const auto& sets = res["gene_sets"];
  const int n_sets = static_cast<int>(sets.size());
  eval::Table t;
  t.title = "MSE per gene set after each stage (input: the genes seen so far)";
  t.columns = {"method", "after stage"};
  for (const auto& s : sets) t.columns.push_back(s["name"].get<std::string>() + " (" + std::to_string(s["n_genes"].get<int64_t>()) + ")");
  t.columns.push_back("all seen");
  std::vector<std::string> order;
  for (const auto& m : res["method_order"]) order.push_back(m.get<std::string>());
  const int stages = res["num_stages"].get<int>();
  for (int s = 0; s < stages; ++s) {
    for (const auto& name : order) {
      const auto& ev = res["methods"][name]["stages"];
      if (s >= static_cast<int>(ev.size()) || ev[s].is_null()) continue;
      std::vector<std::string> row{name, std::to_string(s)};
      for (int k = 0; k < n_sets; ++k) {
        const auto& v = ev[s]["mse"][k];
        row.push_back(v.is_null() ? "-" : eval::cell(v.get<double>(), 4));
      }
      row.push_back(ev[s]["mse_all"].is_null() ? "-" : eval::cell(ev[s]["mse_all"].get<double>(), 4));
      t.rows.push_back(row);
    }
  }
  rep.tables.push_back(t);

  eval::Table f;
  f.title = "Forgetting: MSE after the last stage minus MSE after the stage that introduced the set (lower = better)";
  f.columns = {"method"};
  for (int k = 0; k + 1 < n_sets; ++k) f.columns.push_back(sets[k]["name"].get<std::string>());
  f.columns.push_back("mean");
  for (const auto& name : order) {
    const auto& m = res["methods"][name];
    if (!m.contains("forgetting")) continue;
    std::vector<std::string> row{name};
    for (int k = 0; k + 1 < n_sets; ++k) {
      const auto& v = m["forgetting"]["per_set"][k];
      row.push_back(v.is_null() ? "-" : eval::cell(v.get<double>(), 4));
    }
    row.push_back(m["forgetting"]["mean"].is_null() ? "-" : eval::cell(m["forgetting"]["mean"].get<double>(), 4));
    f.rows.push_back(row);
  }
  rep.tables.push_back(f);

  eval::LineChart chart;
  chart.title = "Masked MSE per gene set on held-out cells";
  chart.x_label = "after stage";
  chart.y_label = "masked MSE";
  for (int s = 0; s < stages; ++s) chart.x_ticks.push_back(std::to_string(s));
  const auto& palette = eval::tab10();
  for (size_t mi = 0; mi < order.size(); ++mi) {
    const auto& ev = res["methods"][order[mi]]["stages"];
    for (int k = 0; k < n_sets; ++k) {
      eval::LineSeries line;
      line.name = order[mi] + ": " + sets[k]["name"].get<std::string>();
      line.color = palette[static_cast<size_t>(k) % palette.size()];
      line.dash = mi == 0 ? "" : mi == 1 ? "7,4" : "2,3";
      for (int s = 0; s < stages && s < static_cast<int>(ev.size()); ++s) {
        line.x.push_back(s);
        line.y.push_back(ev[s].is_null() || ev[s]["mse"][k].is_null() ? NAN : ev[s]["mse"][k].get<double>());
      }
      chart.series.push_back(line);
    }
  }
  chart.height = std::max(400, 60 + 18 * static_cast<int>(chart.series.size()));
  chart.width = 760;
  rep.svgs.emplace_back("forgetting.svg", eval::line_chart_svg(chart));
  rep.notes.push_back("Colour = gene set; line style = method in the order " + [&] {
    std::string s;
    for (size_t i = 0; i < order.size(); ++i) s += (i ? ", " : "") + order[i] + (i == 0 ? " (solid)" : i == 1 ? " (dashed)" : " (dotted)");
    return s;
  }() + ". naive: each later stage trains on its new genes only; joint: one training on all genes and cells, evaluated "
                      "on each stage's input.");
  return rep;
}

}  // namespace scfm::tasks
