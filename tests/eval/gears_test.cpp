// GEARS's data conventions: condition names, the seeded simulation split against the same
// algorithm run on numpy's own RandomState (tests/eval/sklearn_reference.py gears_split), and the
// DE-gene ranking against scipy's Welch t-test, plus hand cases with known answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "scfm/eval/gears.h"
#include "scfm/eval/perturbation_de.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::eval;
using nlohmann::json;

namespace {

double uniform(uint64_t key) { return static_cast<double>(scfm::util::splitmix64(key) >> 11) * 0x1.0p-53; }

json reference(const std::string& mode, const json& in) {
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json", in.dump());
  const auto r = scfm::test::run_python("eval/sklearn_reference.py", mode + " " + (dir / "in.json") + " " + (dir / "out.json"));
  if (r.exit_code != 0) throw std::runtime_error("sklearn_reference.py failed:\n" + r.output);
  return json::parse(scfm::test::read_text(dir / "out.json"));
}

// n single genes G0..G(n-1) and m combinations drawn among them, in a shuffled obs order
std::vector<std::string> conditions(int n, int m, uint64_t seed) {
  std::vector<std::string> c{"ctrl"};
  for (int i = 0; i < n; ++i) c.push_back("G" + std::to_string(i) + "+ctrl");
  std::set<std::pair<int, int>> pairs;
  for (uint64_t k = 0; static_cast<int>(pairs.size()) < m; ++k) {
    int a = static_cast<int>(uniform(seed * 1000 + 2 * k) * n), b = static_cast<int>(uniform(seed * 1000 + 2 * k + 1) * n);
    if (a == b) continue;
    if (pairs.insert({std::min(a, b), std::max(a, b)}).second)
      c.push_back("G" + std::to_string(std::min(a, b)) + "+G" + std::to_string(std::max(a, b)));
  }
  for (size_t i = c.size() - 1; i > 0; --i) std::swap(c[i], c[static_cast<size_t>(uniform(seed * 77 + i) * (i + 1))]);
  return c;
}

}  // namespace

TEST(GearsConditions, ParsesTheFormsAndRefusesTheRest) {
  EXPECT_TRUE(parse_condition("ctrl").control());
  EXPECT_EQ(parse_condition("KLF1+ctrl").genes, std::vector<std::string>{"KLF1"});
  EXPECT_EQ(parse_condition("ctrl+KLF1").genes, std::vector<std::string>{"KLF1"});
  EXPECT_EQ(parse_condition("A+B").genes, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(parse_condition("A+B").combo());
  for (const char* bad : {"", "KLF1", "A+B+C", "+A", "A+", "ctrl+ctrl", "A+A", "control"}) {
    try {
      parse_condition(bad, "f.h5ad", "obs/condition");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const scfm::FormatError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("f.h5ad"), std::string::npos) << m;
      EXPECT_NE(m.find("obs/condition"), std::string::npos) << m;
      EXPECT_NE(m.find("'" + std::string(bad) + "'"), std::string::npos) << m;
    }
  }
}

TEST(GearsSplit, EqualsTheAlgorithmOnNumpysRandomState) {
  for (const auto& [n, m, seed, frac, cfrac] :
       std::vector<std::tuple<int, int, uint32_t, double, double>>{{50, 20, 1, 0.75, 0.75}, {12, 5, 3, 0.75, 0.75},
                                                                    {30, 25, 2, 0.85, 0.85}, {8, 0, 1, 0.5, 0.75}}) {
    const std::vector<std::string> conds = conditions(n, m, seed + 17);
    GearsSplitOptions o;
    o.seed = seed;
    o.train_gene_frac = frac;
    o.combo_seen2_train_frac = cfrac;
    const GearsSplit s = gears_simulation_split(conds, o);
    const json ref = reference("gears_split", {{"conditions", conds}, {"seed", seed}, {"train_gene_frac", frac},
                                               {"combo_frac", cfrac}});
    const json ours = s.to_json();
    EXPECT_EQ(ours["train"], ref["train"]) << n << " " << m << " seed " << seed;
    EXPECT_EQ(ours["val"], ref["val"]);
    EXPECT_EQ(ours["test"], ref["test"]);
    for (const auto& [k, v] : ref["subgroups"].items()) EXPECT_EQ(ours["subgroups"][k], v) << k;
    // a partition of the perturbed conditions, control in train
    std::multiset<std::string> all(s.train.begin(), s.train.end());
    all.insert(s.val.begin(), s.val.end());
    all.insert(s.test.begin(), s.test.end());
    EXPECT_EQ(all, std::multiset<std::string>(conds.begin(), conds.end()));
    // unseen singles' genes occur in no training single
    for (const auto& c : ref["subgroups"]["unseen_single"])
      EXPECT_EQ(std::count(s.train.begin(), s.train.end(), c.get<std::string>()), 0);
  }
  EXPECT_THROW(gears_simulation_split({"ctrl", "A+ctrl"}), scfm::Error);
}

TEST(GearsSplit, SameSeedSameSplitOtherSeedOtherSplit) {
  const auto conds = conditions(40, 15, 9);
  GearsSplitOptions a, b;
  b.seed = 2;
  EXPECT_EQ(gears_simulation_split(conds, a).to_json(), gears_simulation_split(conds, a).to_json());
  EXPECT_NE(gears_simulation_split(conds, a).to_json()["test"], gears_simulation_split(conds, b).to_json()["test"]);
}

TEST(DeGenes, WelchTEqualsScipyAndRanksByItsMagnitude) {
  const int64_t n = 70, g = 60;
  std::vector<float> x(static_cast<size_t>(n * g));
  std::vector<int64_t> group, control;
  for (int64_t i = 0; i < n; ++i) (i < 30 ? group : control).push_back(i);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < g; ++j) {
      const double shift = i < 30 ? 0.05 * static_cast<double>(j % 13) - 0.3 : 0.0;
      const double v = uniform(i * 1000 + j) < 0.3 ? 0.0 : std::log1p(5 * uniform(99991 * i + j)) + shift;
      x[i * g + j] = static_cast<float>(std::max(0.0, v));
    }
  for (int64_t i = 0; i < n; ++i) x[i * g + 7] = 0.0f;   // zero everywhere: t = 0 (NaN -> 0)
  for (int64_t i : group) x[i * g + 11] = 0.0f;          // dropout in the group, expressed in control
  const DeGenes d = rank_de_genes(x.data(), n, g, group, control, 20);
  std::vector<std::vector<double>> rows;
  for (int64_t i = 0; i < n; ++i) rows.emplace_back(x.begin() + i * g, x.begin() + (i + 1) * g);
  const json ref = reference("welch", {{"x", rows}, {"group", group}, {"control", control}});
  for (int64_t j = 0; j < g; ++j) EXPECT_NEAR(d.scores[j], ref["t"][j].get<double>(), 1e-6 * (1 + std::fabs(d.scores[j]))) << j;
  EXPECT_EQ(d.scores[7], 0.0);
  for (size_t k = 1; k < d.ranked.size(); ++k)
    EXPECT_GE(std::fabs(d.scores[d.ranked[k - 1]]), std::fabs(d.scores[d.ranked[k]]));
  EXPECT_EQ(d.top_de, std::vector<int64_t>(d.ranked.begin(), d.ranked.begin() + 20));
  // gene 11 is zero in the group but not in control: a dropout, so never a non-dropout / non-zero DE gene
  EXPECT_NE(std::find(d.ranked.begin(), d.ranked.begin() + 3, 11), d.ranked.begin() + 3);  // strongly DE
  EXPECT_EQ(std::count(d.top_non_dropout.begin(), d.top_non_dropout.end(), 11), 0);
  EXPECT_EQ(std::count(d.top_non_zero.begin(), d.top_non_zero.end(), 11), 0);
  // gene 7 is zero in both: a "true zero", allowed among non-dropout genes but not non-zero ones
  EXPECT_EQ(std::count(d.top_non_zero.begin(), d.top_non_zero.end(), 7), 0);
  EXPECT_EQ(d.top_non_dropout.size(), 20u);
}

TEST(DeGenes, AKnownShiftRanksFirst) {
  // 4 genes, 3 + 3 cells: gene 2 moves by 5 with small noise, the others not at all or little
  const std::vector<float> x = {1, 1, 0.0f, 2,   1, 1.1f, 0.1f, 2,   1, 0.9f, 0.2f, 2,
                                1, 1, 5.0f, 2.1f, 1, 1.1f, 5.1f, 2, 1, 0.9f, 5.2f, 1.9f};
  const DeGenes d = rank_de_genes(x.data(), 6, 4, {3, 4, 5}, {0, 1, 2}, 2);
  EXPECT_EQ(d.ranked[0], 2);
  EXPECT_EQ(d.scores[0], 0.0);  // constant and equal: NaN -> 0
  EXPECT_EQ(d.top_de, (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(rank_de_genes(x.data(), 6, 4, {}, {0, 1}), scfm::Error);
  EXPECT_THROW(rank_de_genes(x.data(), 6, 4, {9}, {0, 1}), scfm::Error);
}
