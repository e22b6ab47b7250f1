#include "scfm/tasks/perturb_eval.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "scfm/eval/perturbation_metrics.h"
#include "scfm/io/array.h"
#include "scfm/io/h5ad.h"
#include "scfm/util/error.h"

namespace fs = std::filesystem;

namespace scfm::tasks {
namespace {

const char* kMain[] = {"pearson", "pearson_de", "pearson_delta", "pearson_delta_de", "mse", "mse_de"};

std::vector<double> control_mean(const PerturbData& d) {
  return eval::mean_profile(d.x.data(), d.n_genes, d.cells_of[d.ctrl]);
}


}  // namespace

std::vector<PerturbPrediction> perturb_baselines(const PerturbData& d, const std::vector<std::string>& conditions) {
  const std::vector<double> ctrl = control_mean(d);
  const size_t g = static_cast<size_t>(d.n_genes);
  std::vector<double> mean(g, 0.0);
  std::map<std::string, std::vector<double>> single_effect;  // gene -> mean(single) - ctrl
  int64_t n_train = 0;
  for (const auto& c : d.split.train) {
    if (c == "ctrl") continue;
    const int32_t k = d.condition_index(c);
    const std::vector<double> m = eval::mean_profile(d.x.data(), d.n_genes, d.cells_of[k]);
    for (size_t j = 0; j < g; ++j) mean[j] += m[j];
    ++n_train;
    if (d.parsed[k].genes.size() == 1) {
      std::vector<double> e(g);
      for (size_t j = 0; j < g; ++j) e[j] = m[j] - ctrl[j];
      single_effect[d.parsed[k].genes[0]] = std::move(e);
    }
  }
  if (n_train == 0) throw Error("perturbation baselines: no perturbed training conditions in " + d.path);
  for (double& v : mean) v /= static_cast<double>(n_train);
  PerturbPrediction none{"no-change", {}}, avg{"mean", {}}, add{"additive", {}};
  for (const auto& c : conditions) {
    none.mean[c] = ctrl;
    avg.mean[c] = mean;
    std::vector<double> a = ctrl;
    for (const auto& gene : eval::parse_condition(c).genes) {
      const auto it = single_effect.find(gene);
      if (it == single_effect.end()) continue;
      for (size_t j = 0; j < g; ++j) a[j] += it->second[j];
    }
    add.mean[c] = std::move(a);
  }
  return {none, avg, add};
}

nlohmann::json score_perturbations(const PerturbData& d, const std::vector<PerturbPrediction>& methods,
                                   const std::vector<std::string>& conditions) {
  const std::vector<double> ctrl = control_mean(d);
  std::map<std::string, std::string> group_of;
  for (const auto& [name, members] : d.split.subgroups)
    if (name.rfind("val_", 0) != 0)
      for (const auto& c : members) group_of[c] = name;
  nlohmann::json out = {{"conditions", conditions}, {"methods", nlohmann::json::object()},
                        {"method_order", nlohmann::json::array()}, {"n_genes", d.n_genes}};
  for (const auto& m : methods) {
    std::vector<eval::PerturbationMetrics> all, all_nd;
    std::map<std::string, std::vector<eval::PerturbationMetrics>> by, by_nd;
    nlohmann::json per = nlohmann::json::object();
    for (const auto& c : conditions) {
      const auto it = m.mean.find(c);
      if (it == m.mean.end()) throw Error("perturbation: method " + m.method + " has no prediction for " + c);
      if (static_cast<int64_t>(it->second.size()) != d.n_genes)
        throw Error("perturbation: method " + m.method + " predicts " + std::to_string(it->second.size()) +
                    " genes for " + c + ", expected " + std::to_string(d.n_genes));
      const int32_t k = d.condition_index(c);
      const std::vector<double> truth = eval::mean_profile(d.x.data(), d.n_genes, d.cells_of[k]);
      const auto de = d.top_de.find(c), nd = d.top_non_dropout.find(c);
      if (de == d.top_de.end() || nd == d.top_non_dropout.end())
        throw FormatError(d.path, "uns/rank_genes_groups_cov_all", "no DE genes for condition " + c);
      const eval::PerturbationMetrics pm = eval::perturbation_metrics(it->second, truth, ctrl, de->second);
      const eval::PerturbationMetrics pn = eval::perturbation_metrics(it->second, truth, ctrl, nd->second);
      nlohmann::json j = pm.to_json();
      j.update(pn.to_json("_non_dropout"));
      j["n_cells"] = d.cells_of[k].size();
      per[c] = j;
      all.push_back(pm);
      all_nd.push_back(pn);
      const auto g = group_of.find(c);
      if (g != group_of.end()) {
        by[g->second].push_back(pm);
        by_nd[g->second].push_back(pn);
      }
    }
    nlohmann::json mean = eval::mean_metrics(all).to_json();
    mean.update(eval::mean_metrics(all_nd).to_json("_non_dropout"));
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [g, v] : by) {
      nlohmann::json gj = eval::mean_metrics(v).to_json();
      gj.update(eval::mean_metrics(by_nd[g]).to_json("_non_dropout"));
      gj["n_conditions"] = v.size();
      groups[g] = gj;
    }
    out["methods"][m.method] = {{"mean", mean}, {"subgroups", groups}, {"per_condition", per}};
    out["method_order"].push_back(m.method);
  }
  return out;
}

eval::Report perturb_report(const nlohmann::json& r, const std::string& title) {
  eval::Report rep;
  rep.title = title;
  rep.results = r;
  auto table = [&](const std::string& t, const std::string& group, const std::string& suffix) {
    eval::Table tab;
    tab.title = t;
    tab.columns = {"method"};
    for (const char* k : kMain) tab.columns.push_back(k + suffix);
    bool any = false;
    for (const auto& name : r["method_order"]) {
      const auto& m = r["methods"][name.get<std::string>()];
      const nlohmann::json* src = &m["mean"];
      if (!group.empty()) {
        if (!m["subgroups"].contains(group)) continue;
        src = &m["subgroups"][group];
      }
      any = true;
      std::vector<std::string> row{name.get<std::string>()};
      for (const char* k : kMain) row.push_back(eval::cell((*src)[k + suffix].get<double>(), 4));
      tab.rows.push_back(row);
    }
    if (any) rep.tables.push_back(tab);
  };
  const size_t n = r["conditions"].size();
  table("Held-out conditions (" + std::to_string(n) + "), GEARS metrics on the top-20 DE genes", "", "");
  table("Held-out conditions, top-20 non-dropout DE genes", "", "_non_dropout");
  for (const char* g : {"unseen_single", "combo_seen0", "combo_seen1", "combo_seen2"})
    table(std::string("Subgroup ") + g, g, "");
  rep.notes.push_back(
      "Means over conditions of GEARS's metrics on mean profiles (log-normalised expression). "
      "pearson_delta*: correlation of (prediction - control mean) with (truth - control mean). "
      "no-change = control mean; mean = mean of the training perturbations' profiles; additive = control + "
      "sum of the training single-gene effects.");
  return rep;
}

static void write_predictions(const std::string& path, const PerturbData& d, const std::vector<PerturbPrediction>& methods,
                       const std::vector<std::string>& conditions) {
  const int64_t n = static_cast<int64_t>(conditions.size()), g = d.n_genes;
  io::AnnData ad;
  ad.root.is_group = true;
  ad.root.set_attr("encoding-type", io::Array::string_scalar("anndata"));
  ad.root.set_attr("encoding-version", io::Array::string_scalar("0.1.0"));
  ad.root.set("obs", io::make_dataframe("_index", conditions));
  ad.root.set("var", io::make_dataframe("_index", d.genes));
  std::vector<float> truth(static_cast<size_t>(n * g));
  for (int64_t r = 0; r < n; ++r) {
    const std::vector<double> t = eval::mean_profile(d.x.data(), g, d.cells_of[d.condition_index(conditions[r])]);
    for (int64_t j = 0; j < g; ++j) truth[r * g + j] = static_cast<float>(t[j]);
  }
  ad.root.set("X", io::make_array(io::Array::from(truth, {n, g})));
  io::Node layers = io::make_dict();
  for (const auto& m : methods) {
    std::vector<float> v(static_cast<size_t>(n * g));
    for (int64_t r = 0; r < n; ++r) {
      const auto& p = m.mean.at(conditions[r]);
      for (int64_t j = 0; j < g; ++j) v[r * g + j] = static_cast<float>(p[j]);
    }
    layers.set(m.method, io::make_array(io::Array::from(v, {n, g})));
  }
  ad.root.set("layers", std::move(layers));
  for (const char* k : {"obsm", "obsp", "varm", "varp", "uns"}) ad.root.set(k, io::make_dict());
  io::write_h5ad(ad, path);
}

nlohmann::json write_perturb_report(const PerturbData& d, std::vector<PerturbPrediction> methods,
                                const std::vector<std::string>& conditions, const std::string& out_dir,
                                const std::string& set, nlohmann::json extra) {
  const std::vector<PerturbPrediction> base = perturb_baselines(d, conditions);
  methods.insert(methods.end(), base.begin(), base.end());
  nlohmann::json scored = score_perturbations(d, methods, conditions);
  for (auto& [k, v] : extra.items()) scored[k] = v;
  eval::Report rep = perturb_report(scored, "scfm perturb: " + set + " conditions of " + d.path);
  eval::write_report(out_dir, rep);
  write_predictions((fs::path(out_dir) / "predictions.h5ad").string(), d, methods, conditions);
  return scored;
}

}  // namespace scfm::tasks
