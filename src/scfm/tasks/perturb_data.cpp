#include "scfm/tasks/perturb_data.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "scfm/eval/perturbation_de.h"
#include "scfm/io/array.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_subset.h"
#include "scfm/io/vocab.h"
#include "scfm/pp/hvg.h"
#include "scfm/pp/normalize.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace {

bool has_column(const io::Node& df, const std::string& name) {
  const auto cols = io::dataframe_columns(df);
  return std::find(cols.begin(), cols.end(), name) != cols.end();
}

bool all_counts(const io::CsrMatrix& m) {
  for (float v : m.data)
    if (v < 0 || v != std::floor(v)) return false;
  return true;
}

io::Node name_lists(const std::map<std::string, std::vector<int64_t>>& lists, const std::vector<std::string>& names) {
  io::Node d = io::make_dict();
  for (const auto& [cond, idx] : lists) {
    std::vector<std::string> v;
    for (int64_t i : idx) v.push_back(names[static_cast<size_t>(i)]);
    d.set(cond, io::make_string_array(std::move(v)));
  }
  return d;
}

}  // namespace

int64_t PerturbData::gene_index(const std::string& name) const {
  const auto it = std::find(genes.begin(), genes.end(), name);
  return it == genes.end() ? -1 : static_cast<int64_t>(it - genes.begin());
}

int32_t PerturbData::condition_index(const std::string& name) const {
  const auto it = std::find(conditions.begin(), conditions.end(), name);
  if (it == conditions.end()) throw Error("perturbation: condition '" + name + "' has no cells in " + path);
  return static_cast<int32_t>(it - conditions.begin());
}

nlohmann::json perturb_prepare(const PerturbPrepareOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.output.empty()) throw Error("perturb prepare: --out (an .h5ad) is required");
  if (o.n_hvg < 0 || o.n_top_de < 1) throw Error("perturb prepare: --n-hvg >= 0 and --n-top-de >= 1");
  io::AnnData ad = io::read_h5ad(o.input);
  const int64_t n = ad.n_obs();
  if (!has_column(ad.obs(), o.condition_col))
    throw FormatError(o.input, "obs/" + o.condition_col,
                      "missing; GEARS's layout names each cell's perturbation there ('ctrl', 'A+ctrl', 'A+B')");
  const std::vector<std::string> cond = io::column_strings(ad.obs(), o.condition_col);
  const std::string gene_col = has_column(ad.var(), o.gene_col) ? o.gene_col : "";
  const std::vector<std::string> names = io::gene_names(ad, gene_col);
  const std::string gene_field = gene_col.empty() ? "var index" : "var/" + gene_col;

  // ---- conditions: syntax, control cells, perturbed genes among the file's genes
  std::vector<std::string> conditions;
  std::map<std::string, int32_t> code;
  std::vector<int32_t> cell_condition(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto it = code.find(cond[i]);
    if (it == code.end()) {
      (void)eval::parse_condition(cond[i], o.input, "obs/" + o.condition_col);
      it = code.emplace(cond[i], static_cast<int32_t>(conditions.size())).first;
      conditions.push_back(cond[i]);
    }
    cell_condition[i] = it->second;
  }
  if (!code.count("ctrl"))
    throw FormatError(o.input, "obs/" + o.condition_col,
                      "no control cells (condition 'ctrl'); the perturbations cannot be compared with anything");
  std::map<std::string, int64_t> gene_of;
  for (size_t j = 0; j < names.size(); ++j) gene_of.emplace(names[j], static_cast<int64_t>(j));
  std::set<int64_t> targets;
  for (const auto& c : conditions)
    for (const auto& g : eval::parse_condition(c).genes) {
      const auto it = gene_of.find(g);
      if (it == gene_of.end())
        throw FormatError(o.input, gene_field, "gene '" + g + "' of condition '" + c + "' is not among the " +
                                                   std::to_string(names.size()) + " genes of the file");
      targets.insert(it->second);
    }

  // ---- values: counts -> normalize_total + log1p; otherwise taken as log-normalised
  io::CsrMatrix m = ad.matrix_csr(o.layer);
  const bool counts = all_counts(m);
  io::CsrMatrix logn = m;
  if (counts) {
    pp::NormalizeTotalOptions no;
    no.target_sum = o.target_sum;
    pp::normalize_total(logn, no);
    pp::log1p(logn);
  }
  std::vector<bool> keep(static_cast<size_t>(m.n_cols), o.n_hvg == 0 || o.n_hvg >= m.n_cols);
  if (m.n_cols > 0 && !keep[0]) {
    pp::HighlyVariableGenesOptions ho;
    ho.flavor = counts ? pp::HvgFlavor::SeuratV3 : pp::HvgFlavor::Seurat;
    ho.n_top_genes = o.n_hvg;
    const pp::HighlyVariableGenes hv = pp::highly_variable_genes(counts ? m : logn, ho);
    for (int64_t j = 0; j < m.n_cols; ++j) keep[j] = hv.highly_variable[j];
  }
  for (int64_t t : targets) keep[static_cast<size_t>(t)] = true;
  std::vector<int64_t> genes = io::mask_to_indices(keep), all_cells(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all_cells[i] = i;

  // ---- dense log values of the chosen genes, DE per condition
  const int64_t g = static_cast<int64_t>(genes.size());
  std::vector<int32_t> col(static_cast<size_t>(m.n_cols), -1);
  for (int64_t j = 0; j < g; ++j) col[genes[j]] = static_cast<int32_t>(j);
  std::vector<float> x(static_cast<size_t>(n * g), 0.0f);
  io::CsrMatrix sub;
  sub.n_rows = n;
  sub.n_cols = g;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t e = logn.indptr[r]; e < logn.indptr[r + 1]; ++e)
      if (col[logn.indices[e]] >= 0 && logn.data[e] != 0) {
        x[r * g + col[logn.indices[e]]] = logn.data[e];
        sub.indices.push_back(col[logn.indices[e]]);
        sub.data.push_back(logn.data[e]);
      }
    sub.indptr.push_back(static_cast<int64_t>(sub.indices.size()));
  }
  std::vector<std::vector<int64_t>> cells_of(conditions.size());
  for (int64_t i = 0; i < n; ++i) cells_of[cell_condition[i]].push_back(i);
  const int32_t ctrl = code.at("ctrl");
  std::map<std::string, std::vector<int64_t>> ranked, top_de, top_non_dropout, top_non_zero;
  for (size_t c = 0; c < conditions.size(); ++c) {
    if (static_cast<int32_t>(c) == ctrl) continue;
    const eval::DeGenes d = eval::rank_de_genes(x.data(), n, g, cells_of[c], cells_of[ctrl], o.n_top_de);
    if (conditions[c].find('/') != std::string::npos)
      throw FormatError(o.input, "obs/" + o.condition_col, "condition '" + conditions[c] + "' contains '/', which an .h5ad key cannot hold");
    ranked[conditions[c]] = d.ranked;
    top_de[conditions[c]] = d.top_de;
    top_non_dropout[conditions[c]] = d.top_non_dropout;
    top_non_zero[conditions[c]] = d.top_non_zero;
  }

  // ---- split
  const eval::GearsSplit split = eval::gears_simulation_split(conditions, o.split);
  std::map<std::string, std::string> part;
  for (const auto& c : split.train) part[c] = "train";
  for (const auto& c : split.val) part[c] = "val";
  for (const auto& c : split.test) part[c] = "test";
  std::vector<std::string> cell_split(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) cell_split[i] = part.at(cond[i]);

  // ---- the prepared file
  std::vector<std::string> chosen_names;
  for (int64_t j : genes) chosen_names.push_back(names[j]);
  io::AnnData out = io::subset(ad, all_cells, genes);
  if (out.root.child("layers") != nullptr) out.root.remove("layers");
  if (out.root.child("raw") != nullptr) out.root.remove("raw");
  out.set_matrix("", io::make_csr(sub));
  io::dataframe_set_column(out.obs(), "split", io::make_categorical_from_labels(cell_split));
  if (o.gene_col.empty() || !has_column(out.var(), o.gene_col) || o.gene_col != "gene_name")
    io::dataframe_set_column(out.var(), "gene_name", io::make_string_array(chosen_names));
  if (out.root.child("uns") == nullptr) out.root.set("uns", io::make_dict());
  io::Node& uns = *out.root.child("uns");
  uns.set("rank_genes_groups_cov_all", name_lists(ranked, chosen_names));
  uns.set("top_non_dropout_de_20", name_lists(top_non_dropout, chosen_names));
  uns.set("top_non_zero_de_20", name_lists(top_non_zero, chosen_names));
  nlohmann::json settings = {{"input", o.input}, {"condition_col", o.condition_col}, {"gene_col", gene_field},
                             {"layer", o.layer}, {"input_values", counts ? "counts" : "log-normalised"},
                             {"target_sum", o.target_sum}, {"n_hvg", o.n_hvg}, {"n_genes", g},
                             {"n_top_de", o.n_top_de}, {"split_seed", o.split.seed},
                             {"train_gene_frac", o.split.train_gene_frac},
                             {"combo_seen2_train_frac", o.split.combo_seen2_train_frac}};
  nlohmann::json meta = {{"settings", settings}, {"split", split.to_json()}};
  uns.set("scfm_perturb", io::make_string(meta.dump()));
  io::write_h5ad(out, o.output);

  int64_t singles = 0, combos = 0;
  for (const auto& c : conditions) {
    const auto p = eval::parse_condition(c);
    singles += p.genes.size() == 1;
    combos += p.combo();
  }
  nlohmann::json r = meta;
  r["n_cells"] = n;
  r["n_conditions"] = conditions.size();
  r["n_single"] = singles;
  r["n_combo"] = combos;
  r["n_control_cells"] = cells_of[ctrl].size();
  r["output"] = o.output;
  r["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

PerturbData read_perturb_data(const std::string& path) {
  io::AnnData ad = io::read_h5ad(path);
  PerturbData d;
  d.path = path;
  const io::Node* uns = ad.root.child("uns");
  const io::Node* meta = uns != nullptr ? uns->child("scfm_perturb") : nullptr;
  if (meta == nullptr)
    throw FormatError(path, "uns/scfm_perturb", "missing; prepare the file with `scfm perturb prepare` first");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(io::array_strings(meta->data).at(0));
  } catch (const std::exception& e) {
    throw FormatError(path, "uns/scfm_perturb", std::string("not the JSON scfm writes: ") + e.what());
  }
  d.settings = j["settings"];
  const auto& s = j["split"];
  d.split.train = s["train"].get<std::vector<std::string>>();
  d.split.val = s["val"].get<std::vector<std::string>>();
  d.split.test = s["test"].get<std::vector<std::string>>();
  for (const auto& [k, v] : s["subgroups"].items()) d.split.subgroups.emplace_back(k, v.get<std::vector<std::string>>());
  const std::string ccol = d.settings.value("condition_col", "condition");
  if (!has_column(ad.obs(), ccol)) throw FormatError(path, "obs/" + ccol, "missing");
  const std::vector<std::string> cond = io::column_strings(ad.obs(), ccol);
  if (has_column(ad.obs(), "cell_type")) d.cell_type = io::column_strings(ad.obs(), "cell_type");
  d.genes = io::gene_names(ad, has_column(ad.var(), "gene_name") ? "gene_name" : "");
  d.n_cells = ad.n_obs();
  d.n_genes = static_cast<int64_t>(d.genes.size());
  const io::CsrMatrix m = ad.matrix_csr();
  d.x = m.to_dense();
  std::map<std::string, int32_t> code;
  d.cell_condition.resize(static_cast<size_t>(d.n_cells));
  for (int64_t i = 0; i < d.n_cells; ++i) {
    auto it = code.find(cond[i]);
    if (it == code.end()) {
      it = code.emplace(cond[i], static_cast<int32_t>(d.conditions.size())).first;
      d.conditions.push_back(cond[i]);
      d.parsed.push_back(eval::parse_condition(cond[i], path, "obs/" + ccol));
      d.cells_of.emplace_back();
    }
    d.cell_condition[i] = it->second;
    d.cells_of[it->second].push_back(i);
  }
  if (!code.count("ctrl")) throw FormatError(path, "obs/" + ccol, "no control cells (condition 'ctrl')");
  d.ctrl = code.at("ctrl");
  std::map<std::string, int64_t> gi;
  for (size_t k = 0; k < d.genes.size(); ++k) gi.emplace(d.genes[k], static_cast<int64_t>(k));
  auto read_lists = [&](const char* key, std::map<std::string, std::vector<int64_t>>& into) {
    const io::Node* n = uns->child(key);
    if (n == nullptr) throw FormatError(path, std::string("uns/") + key, "missing; prepare with `scfm perturb prepare`");
    for (const auto& c : n->keys()) {
      std::vector<int64_t> idx;
      for (const auto& name : io::array_strings(n->child(c)->data)) {
        const auto it = gi.find(name);
        if (it == gi.end()) throw FormatError(path, std::string("uns/") + key + "/" + c, "gene '" + name + "' is not in var");
        idx.push_back(it->second);
      }
      into[c] = std::move(idx);
    }
  };
  read_lists("rank_genes_groups_cov_all", d.top_de);
  const int64_t top = d.settings.value("n_top_de", 20);
  for (auto& [c, v] : d.top_de)
    if (static_cast<int64_t>(v.size()) > top) v.resize(static_cast<size_t>(top));
  read_lists("top_non_dropout_de_20", d.top_non_dropout);
  return d;
}

}  // namespace scfm::tasks
