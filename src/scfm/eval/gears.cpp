#include "scfm/eval/gears.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "scfm/data/random.h"
#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

const char* kForms = "expected 'ctrl', 'A+ctrl', 'ctrl+A' or 'A+B' (GEARS's condition names)";

bool has(const std::vector<std::string>& sorted, const std::string& g) {
  return std::binary_search(sorted.begin(), sorted.end(), g);
}

// numpy.setdiff1d: the sorted unique values of a not in b.
std::vector<std::string> setdiff(std::vector<std::string> a, const std::vector<std::string>& b) {
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  std::vector<std::string> sb(b.begin(), b.end()), out;
  std::sort(sb.begin(), sb.end());
  for (auto& x : a)
    if (!has(sb, x)) out.push_back(std::move(x));
  return out;
}

struct Parsed {
  std::string name;
  Condition c;
};

// GEARS's get_perts_from_genes: the conditions of `kind` (singles or combos) with any gene in `genes`.
std::vector<std::string> perts_from_genes(const std::vector<Parsed>& perts, const std::vector<std::string>& genes_sorted,
                                          bool combos) {
  std::vector<std::string> out;
  for (const auto& p : perts) {
    if (p.c.combo() != combos) continue;
    for (const auto& g : p.c.genes)
      if (has(genes_sorted, g)) {
        out.push_back(p.name);
        break;
      }
  }
  return out;
}

int64_t seen_count(const Condition& c, const std::vector<std::string>& train_sorted) {
  int64_t k = 0;
  for (const auto& g : c.genes) k += has(train_sorted, g) ? 1 : 0;
  return k;
}

struct SplitStep {
  std::vector<std::string> train, test;
  std::vector<std::string> unseen_single, combo_seen0, combo_seen1, combo_seen2;
};

// GEARS's DataSplitter.get_simulation_split.
SplitStep simulation_split(const std::vector<std::string>& pert_list, double gene_frac, double combo_frac, uint32_t seed) {
  std::vector<Parsed> perts;
  std::vector<std::string> genes;
  for (const auto& name : pert_list) {
    Parsed p{name, parse_condition(name)};
    if (p.c.control()) continue;
    for (const auto& g : p.c.genes) genes.push_back(g);
    perts.push_back(std::move(p));
  }
  std::sort(genes.begin(), genes.end());
  genes.erase(std::unique(genes.begin(), genes.end()), genes.end());
  if (genes.size() < 2)
    throw Error("GEARS simulation split: " + std::to_string(genes.size()) +
                " perturbed gene(s); at least 2 are needed to hold some out");

  data::NumpyRandomState rs(seed);
  const auto k = static_cast<int64_t>(static_cast<double>(genes.size()) * gene_frac);
  std::vector<std::string> train_genes;
  for (int64_t i : data::numpy_choice_without_replacement(rs, static_cast<int64_t>(genes.size()), k))
    train_genes.push_back(genes[i]);
  std::vector<std::string> ood = setdiff(genes, train_genes);
  std::vector<std::string> train_sorted = train_genes;
  std::sort(train_sorted.begin(), train_sorted.end());

  std::map<std::string, const Condition*> by_name;
  for (const auto& p : perts) by_name[p.name] = &p.c;
  SplitStep s;
  s.train = perts_from_genes(perts, train_sorted, false);
  std::vector<std::string> combos = perts_from_genes(perts, train_sorted, true);
  for (const auto& x : combos)
    if (seen_count(*by_name[x], train_sorted) == 1) s.combo_seen1.push_back(x);
  s.test = s.combo_seen1;
  combos = setdiff(combos, s.combo_seen1);
  data::NumpyRandomState rs2(seed);
  const auto kc = static_cast<int64_t>(static_cast<double>(combos.size()) * combo_frac);
  std::vector<std::string> combo_train;
  for (int64_t i : data::numpy_choice_without_replacement(rs2, static_cast<int64_t>(combos.size()), kc))
    combo_train.push_back(combos[i]);
  s.combo_seen2 = setdiff(combos, combo_train);
  s.test.insert(s.test.end(), s.combo_seen2.begin(), s.combo_seen2.end());
  s.train.insert(s.train.end(), combo_train.begin(), combo_train.end());
  std::sort(ood.begin(), ood.end());
  s.unseen_single = perts_from_genes(perts, ood, false);
  s.test.insert(s.test.end(), s.unseen_single.begin(), s.unseen_single.end());
  for (const auto& x : perts_from_genes(perts, ood, true))
    if (seen_count(*by_name[x], train_sorted) == 0) s.combo_seen0.push_back(x);
  s.test.insert(s.test.end(), s.combo_seen0.begin(), s.combo_seen0.end());
  return s;
}

nlohmann::json list(const std::vector<std::string>& v) { return nlohmann::json(v); }

}  // namespace

Condition parse_condition(const std::string& name, const std::string& source, const std::string& field) {
  Condition c;
  if (name == "ctrl") return c;
  const size_t plus = name.find('+');
  if (plus == std::string::npos || name.find('+', plus + 1) != std::string::npos)
    throw FormatError(source, field, "condition '" + name + "': " + kForms);
  const std::string a = name.substr(0, plus), b = name.substr(plus + 1);
  if (a.empty() || b.empty() || (a == "ctrl" && b == "ctrl") || a == b)
    throw FormatError(source, field, "condition '" + name + "': " + kForms);
  if (a != "ctrl") c.genes.push_back(a);
  if (b != "ctrl") c.genes.push_back(b);
  return c;
}

nlohmann::json GearsSplit::to_json() const {
  nlohmann::json j = {{"train", list(train)}, {"val", list(val)}, {"test", list(test)}};
  nlohmann::json g = nlohmann::json::object();
  for (const auto& [name, v] : subgroups) g[name] = list(v);
  j["subgroups"] = g;
  return j;
}

GearsSplit gears_simulation_split(const std::vector<std::string>& conditions, const GearsSplitOptions& o) {
  std::vector<std::string> perts;
  for (const auto& c : conditions)
    if (c != "ctrl") perts.push_back(c);
  const SplitStep first = simulation_split(perts, o.train_gene_frac, o.combo_seen2_train_frac, o.seed);
  const SplitStep second = simulation_split(first.train, 0.9, 0.9, o.seed);
  GearsSplit s;
  s.train = second.train;
  s.train.push_back("ctrl");
  s.val = second.test;
  s.test = first.test;
  s.subgroups = {{"unseen_single", first.unseen_single}, {"combo_seen0", first.combo_seen0},
                 {"combo_seen1", first.combo_seen1},     {"combo_seen2", first.combo_seen2},
                 {"val_unseen_single", second.unseen_single}, {"val_combo_seen0", second.combo_seen0},
                 {"val_combo_seen1", second.combo_seen1},     {"val_combo_seen2", second.combo_seen2}};
  return s;
}

}  // namespace scfm::eval
