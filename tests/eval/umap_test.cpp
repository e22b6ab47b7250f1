// eval/umap: the curve parameters against umap-learn's find_ab_params, trustworthiness against
// sklearn's, and the layout's invariants: clusters stay apart, the same bits for any thread
// count, a disconnected graph laid out, bad input refused. (umap-learn's own layout is compared
// on real data by tests/cli/umap_cli_test.cpp through tests/eval/umap_check.py.)
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "scfm/eval/umap.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::eval;
using nlohmann::json;

namespace {

double uniform(uint64_t key) { return static_cast<double>(scfm::util::splitmix64(key) >> 11) * 0x1.0p-53; }
double normal(uint64_t key) {
  return std::sqrt(-2 * std::log(1 - uniform(2 * key))) * std::cos(2 * M_PI * uniform(2 * key + 1));
}

// `k` Gaussian clusters of `per` points in `d` dimensions, centres `sep` apart on the axes
std::vector<float> blobs(int k, int per, int d, double sep, uint64_t seed, std::vector<int>* labels = nullptr) {
  std::vector<float> x(static_cast<size_t>(k * per * d));
  for (int c = 0; c < k; ++c)
    for (int p = 0; p < per; ++p) {
      const int i = c * per + p;
      for (int j = 0; j < d; ++j)
        x[i * d + j] = static_cast<float>((j == c % d ? sep * (1 + c / d) : 0.0) + normal(seed * 1000003 + i * 97 + j));
      if (labels) labels->push_back(c);
    }
  return x;
}

}  // namespace

TEST(Umap, CurveParametersMatchUmapLearn) {
  // umap.umap_.find_ab_params(spread, min_dist) of umap-learn 0.5.3 (Debian 12)
  struct Case { double spread, min_dist, a, b; };
  for (const Case& c : {Case{1, 0.5, 0.583030020479462, 1.3341669929263487}, Case{1, 0.1, 1.5769434601962196, 0.8950608779914887},
                        Case{1, 0.0, 1.9328083975546724, 0.7904949734010681}, Case{2, 0.3, 0.3794946888755375, 0.9488152190879922},
                        Case{1, 0.99, 0.11930530006447332, 1.9163904159174419}}) {
    double a = 0, b = 0;
    umap_ab(c.spread, c.min_dist, a, b);
    EXPECT_NEAR(a, c.a, 1e-4 * c.a) << c.spread << " " << c.min_dist;
    EXPECT_NEAR(b, c.b, 1e-4 * c.b) << c.spread << " " << c.min_dist;
  }
  double a, b;
  EXPECT_THROW(umap_ab(0, 0.5, a, b), scfm::Error);
  EXPECT_THROW(umap_ab(1, -1, a, b), scfm::Error);
}

TEST(Umap, TrustworthinessMatchesSklearn) {
  const int n = 120, d = 6;
  std::vector<float> x = blobs(3, n / 3, d, 4, 1);
  std::vector<float> y(static_cast<size_t>(n * 2));
  for (int i = 0; i < n; ++i) {  // a noisy projection: not trivially perfect
    y[2 * i] = x[i * d] + 0.8f * static_cast<float>(normal(5000 + i));
    y[2 * i + 1] = x[i * d + 1] + 0.8f * static_cast<float>(normal(9000 + i));
  }
  json in;
  in["x"] = json::array();
  in["y"] = json::array();
  for (int i = 0; i < n; ++i) {
    in["x"].push_back(std::vector<float>(x.begin() + i * d, x.begin() + (i + 1) * d));
    in["y"].push_back(std::vector<float>(y.begin() + 2 * i, y.begin() + 2 * i + 2));
  }
  in["k"] = {1, 5, 15, 40};
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json", in.dump());
  const auto r = scfm::test::run_python("eval/sklearn_reference.py", "trustworthiness " + (dir / "in.json") + " " + (dir / "out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json ref = json::parse(scfm::test::read_text(dir / "out.json"));
  for (int k : {1, 5, 15, 40}) {
    const double t = trustworthiness({x.data(), n, d}, {y.data(), n, 2}, k);
    EXPECT_NEAR(t, ref["t"][std::to_string(k)].get<double>(), 1e-9) << "k " << k;
  }
  // the data itself as its layout: every neighbour kept
  EXPECT_DOUBLE_EQ(trustworthiness({x.data(), n, d}, {x.data(), n, d}, 15), 1.0);
  EXPECT_THROW(trustworthiness({x.data(), n, d}, {y.data(), n, 2}, 60), scfm::Error);
}

TEST(Umap, KeepsClustersApartAndNeighboursNear) {
  std::vector<int> labels;
  const int k = 5, per = 120, d = 20;
  std::vector<float> x = blobs(k, per, d, 8, 2, &labels);
  const int64_t n = k * per;
  for (const char* layout : {"sequential", "parallel"}) {
  UmapOptions o;
  o.layout = layout;
  const UmapResult r = umap({x.data(), n, d}, o);
  ASSERT_EQ(r.x.size(), static_cast<size_t>(n * 2));
  EXPECT_EQ(r.n_epochs, 500);
  for (float v : r.x) ASSERT_TRUE(std::isfinite(v));
  // a point's 10 nearest in the layout share its cluster
  int64_t agree = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> dist;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) dist.emplace_back(std::hypot(r.x[2 * i] - r.x[2 * j], r.x[2 * i + 1] - r.x[2 * j + 1]), j);
    std::partial_sort(dist.begin(), dist.begin() + 10, dist.end());
    for (int t = 0; t < 10; ++t) agree += labels[dist[t].second] == labels[i];
  }
  EXPECT_GT(static_cast<double>(agree) / (10.0 * n), 0.99) << layout;
  EXPECT_GT(trustworthiness({x.data(), n, d}, {r.x.data(), n, 2}, 15), 0.85) << layout;
  }
}

TEST(Umap, SameBitsForAnyThreadCount) {
  std::vector<float> x = blobs(4, 150, 10, 3, 3);
  const int64_t n = 600;
  for (const char* layout : {"sequential", "parallel"}) {
  UmapOptions o;
  o.layout = layout;
  o.n_epochs = 120;
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  const UmapResult one = umap({x.data(), n, 10}, o);
  omp_set_num_threads(2);
  const UmapResult two = umap({x.data(), n, 10}, o);
  omp_set_num_threads(before);
  ASSERT_EQ(one.x.size(), two.x.size());
  EXPECT_EQ(0, std::memcmp(one.x.data(), two.x.data(), one.x.size() * sizeof(float)));
  o.seed = 7;  // another seed, another layout
  const UmapResult other = umap({x.data(), n, 10}, o);
  EXPECT_NE(0, std::memcmp(one.x.data(), other.x.data(), one.x.size() * sizeof(float)));
  }
}

TEST(Umap, LaysOutADisconnectedGraph) {
  // three clusters so far apart that the 15-NN graph has three components (and 7 > 2 dim: the
  // centroids are laid out spectrally), plus the two-component case (axes)
  for (int k : {2, 7}) {
    std::vector<int> labels;
    std::vector<float> x = blobs(k, 40, 8, 1000, 4, &labels);
    const int64_t n = k * 40;
    const UmapResult r = umap({x.data(), n, 8});
    EXPECT_EQ(r.components, k);
    EXPECT_NE(r.init.find("components placed apart"), std::string::npos) << r.init;
    for (float v : r.x) ASSERT_TRUE(std::isfinite(v));
    // every cluster's bounding box is apart from the others' centres
    std::vector<double> cx(k, 0), cy(k, 0);
    for (int64_t i = 0; i < n; ++i) cx[labels[i]] += r.x[2 * i] / 40.0, cy[labels[i]] += r.x[2 * i + 1] / 40.0;
    int64_t nearest_own = 0;
    for (int64_t i = 0; i < n; ++i) {
      int best = 0;
      for (int c = 1; c < k; ++c)
        if (std::hypot(r.x[2 * i] - cx[c], r.x[2 * i + 1] - cy[c]) < std::hypot(r.x[2 * i] - cx[best], r.x[2 * i + 1] - cy[best]))
          best = c;
      nearest_own += best == labels[i];
    }
    EXPECT_EQ(nearest_own, n) << k << " clusters";
  }
}

TEST(Umap, RefusesBadInput) {
  std::vector<float> x = {0, 1, 2, 3};
  EXPECT_THROW(umap({x.data(), 2, 2}), scfm::Error);
  std::vector<float> y = blobs(2, 20, 3, 3, 5);
  y[7] = NAN;
  EXPECT_THROW(umap({y.data(), 40, 3}), scfm::Error);
  y[7] = 0;
  UmapOptions o;
  o.init = "pca";
  EXPECT_THROW(umap({y.data(), 40, 3}, o), scfm::Error);
  o.init = "spectral";
  o.layout = "hogwild";
  EXPECT_THROW(umap({y.data(), 40, 3}, o), scfm::Error);
  o.layout = "auto";
  o.init = "random";
  const UmapResult r = umap({y.data(), 40, 3}, o);
  EXPECT_EQ(r.init, "random");
}
