// Gene importance from the data: the ANOVA F statistic against sklearn's f_classif (the real
// client, on a random sparse matrix), a hand case with a known F, and the ranking order.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "scfm/data/gene_importance.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::data;
using nlohmann::json;

namespace {

double uniform(uint64_t key) { return static_cast<double>(scfm::util::splitmix64(key) >> 11) * 0x1.0p-53; }

scfm::io::CsrMatrix from_dense(const std::vector<std::vector<float>>& rows) {
  scfm::io::CsrMatrix m;
  m.n_rows = static_cast<int64_t>(rows.size());
  m.n_cols = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
  for (const auto& r : rows) {
    for (size_t j = 0; j < r.size(); ++j)
      if (r[j] != 0) {
        m.indices.push_back(static_cast<int32_t>(j));
        m.data.push_back(r[j]);
      }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  return m;
}

}  // namespace

TEST(GeneImportance, KnownAnswer) {
  // gene 0: groups {1,2,3} and {5,6,7}: SSB = 2*3*4 = 24 over 1 df, SSW = 4 over 4 df -> F = 24
  // gene 1: the same in both groups -> F = 0; gene 2: constant -> NaN;
  // gene 3: constant within groups, different means -> +inf
  const auto m = from_dense({{1, 1, 4, 0}, {2, 2, 4, 0}, {3, 3, 4, 0}, {5, 1, 4, 2}, {6, 2, 4, 2}, {7, 3, 4, 2}});
  const std::vector<double> f = anova_f(m, {0, 0, 0, 1, 1, 1});
  EXPECT_NEAR(f[0], 24.0, 1e-9);
  EXPECT_NEAR(f[1], 0.0, 1e-9);
  EXPECT_TRUE(std::isnan(f[2]));
  EXPECT_TRUE(std::isinf(f[3]) && f[3] > 0);
  EXPECT_EQ(rank_by_score(f, -1), (std::vector<int32_t>{3, 0, 1, 2}));  // NaN last
  EXPECT_EQ(rank_by_score(f, 2), (std::vector<int32_t>{3, 0}));
  // rows with a negative label take no part: adding an outlier row changes nothing
  auto m2 = from_dense({{1, 1, 4, 0}, {2, 2, 4, 0}, {3, 3, 4, 0}, {5, 1, 4, 2}, {6, 2, 4, 2}, {7, 3, 4, 2}, {100, 9, 9, 9}});
  EXPECT_NEAR(anova_f(m2, {0, 0, 0, 1, 1, 1, -1})[0], 24.0, 1e-9);
  EXPECT_THROW(anova_f(m, {0, 0, 0, 0, 0, 0}), scfm::Error);  // one label
  EXPECT_THROW(anova_f(m, {0, 1}), scfm::Error);              // wrong count
}

TEST(GeneImportance, MatchesSklearnFClassif) {
  // 300 cells x 40 genes, 5 labels, ~70% zeros; genes 0..4 shifted by 0.5 * label in every cell
  const int n = 300, g = 40;
  std::vector<std::vector<float>> x(n, std::vector<float>(g, 0));
  std::vector<int32_t> labels(n);
  for (int i = 0; i < n; ++i) {
    labels[i] = static_cast<int32_t>(uniform(7 * i + 1) * 5);
    for (int j = 0; j < g; ++j) {
      const float shift = j < 5 ? 0.5f * static_cast<float>(labels[i]) : 0.0f;
      x[i][j] = uniform(1000003ULL * i + j) < 0.7 ? shift : static_cast<float>(std::log1p(10 * uniform(99991ULL * i + j + 5))) + shift;
    }
  }
  x[0].assign(g, 0);  // a row of zeros is fine
  const std::vector<double> f = anova_f(from_dense(x), labels);
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json", json{{"x", x}, {"labels", labels}}.dump());
  const auto r = scfm::test::run_python("eval/sklearn_reference.py", "f_classif " + (dir / "in.json") + " " + (dir / "out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json ref = json::parse(scfm::test::read_text(dir / "out.json"))["f"];
  ASSERT_EQ(ref.size(), static_cast<size_t>(g));
  for (int j = 0; j < g; ++j) {
    ASSERT_TRUE(ref[j].is_number()) << j;
    EXPECT_NEAR(f[j], ref[j].get<double>(), 1e-6 * std::max(1.0, std::fabs(ref[j].get<double>()))) << "gene " << j;
  }
  // the five genes with a label effect rank first
  const std::vector<int32_t> top = rank_by_score(f, 5);
  for (int32_t j : top) EXPECT_LT(j, 5);
}
