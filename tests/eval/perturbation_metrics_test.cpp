// GEARS's perturbation metrics against scipy's pearsonr and sklearn's mean_squared_error applied
// as gears/inference.py applies them (tests/eval/sklearn_reference.py gears), and hand cases.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "scfm/eval/perturbation_metrics.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::eval;
using nlohmann::json;

namespace {
double uniform(uint64_t key) { return static_cast<double>(scfm::util::splitmix64(key) >> 11) * 0x1.0p-53; }
}  // namespace

TEST(PerturbationMetrics, HandComputedCases) {
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 6}), 1.0, 1e-15);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-15);
  // x = 1 2 3 4, y = 1 3 2 4: r = 0.8
  EXPECT_NEAR(pearson({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-15);
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  EXPECT_DOUBLE_EQ(mean_squared_error({0, 0}, {1, 3}), 5.0);
  // a constant prediction: GEARS counts the undefined r as 0
  const PerturbationMetrics m = perturbation_metrics({1, 1, 1, 1}, {0, 1, 2, 3}, {0, 0, 0, 0}, {2, 3});
  EXPECT_DOUBLE_EQ(m.pearson, 0.0);
  EXPECT_DOUBLE_EQ(m.mse, (1 + 0 + 1 + 4) / 4.0);
  EXPECT_DOUBLE_EQ(m.mse_de, (1 + 4) / 2.0);
  // predicting the control exactly: delta correlations are undefined -> 0
  EXPECT_DOUBLE_EQ(perturbation_metrics({0, 0, 0}, {1, 2, 4}, {0, 0, 0}, {0, 1}).pearson_delta, 0.0);
  EXPECT_THROW(perturbation_metrics({1, 2}, {1, 2}, {0, 0}, {}), scfm::Error);
  EXPECT_THROW(perturbation_metrics({1, 2}, {1, 2}, {0, 0}, {2}), scfm::Error);
  EXPECT_THROW(pearson({1, 2}, {1}), scfm::Error);
}

TEST(PerturbationMetrics, EqualGearsWithScipyAndSklearn) {
  const int cells = 30, genes = 200, ctrl_cells = 40;
  std::vector<float> pred(cells * genes), truth(cells * genes), ctrl(ctrl_cells * genes);
  json in = {{"pred", json::array()}, {"truth", json::array()}, {"ctrl", json::array()}, {"de", json::array()}};
  for (int i = 0; i < cells; ++i) {
    std::vector<float> p(genes), t(genes);
    for (int g = 0; g < genes; ++g) {
      const double base = 3 * uniform(7 * g + 1);
      t[g] = truth[i * genes + g] = static_cast<float>(base + (g < 20 ? 1.5 : 0) + 0.3 * uniform(1000 + i * genes + g));
      p[g] = pred[i * genes + g] = static_cast<float>(base + (g < 20 ? 1.0 : 0) + 0.3 * uniform(900000 + i * genes + g));
    }
    in["pred"].push_back(p);
    in["truth"].push_back(t);
  }
  for (int i = 0; i < ctrl_cells; ++i) {
    std::vector<float> c(genes);
    for (int g = 0; g < genes; ++g) c[g] = ctrl[i * genes + g] = static_cast<float>(3 * uniform(7 * g + 1) + 0.3 * uniform(5000000 + i * genes + g));
    in["ctrl"].push_back(c);
  }
  std::vector<int64_t> de;
  for (int g = 0; g < 20; ++g) de.push_back(g * 3 % 40);
  in["de"] = de;
  std::vector<int64_t> rows(cells), crow(ctrl_cells);
  for (int i = 0; i < cells; ++i) rows[i] = i;
  for (int i = 0; i < ctrl_cells; ++i) crow[i] = i;
  const PerturbationMetrics m = perturbation_metrics(mean_profile(pred.data(), genes, rows),
                                                     mean_profile(truth.data(), genes, rows),
                                                     mean_profile(ctrl.data(), genes, crow), de);
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json", in.dump());
  const auto r = scfm::test::run_python("eval/sklearn_reference.py", "gears " + (dir / "in.json") + " " + (dir / "out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json ref = json::parse(scfm::test::read_text(dir / "out.json"));
  const json ours = m.to_json();
  for (const auto& [k, v] : ref.items()) EXPECT_NEAR(ours[k].get<double>(), v.get<double>(), 1e-6) << k;
  // the averages over perturbations are plain means
  const PerturbationMetrics avg = mean_metrics({m, PerturbationMetrics{}});
  EXPECT_DOUBLE_EQ(avg.pearson_delta, m.pearson_delta / 2);
}
