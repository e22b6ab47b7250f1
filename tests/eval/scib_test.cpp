// The integration-metric layer: scib's metrics against the libraries scib calls (sklearn, numpy,
// scipy, harmonypy, through tests/eval/sklearn_reference.py) and hand-computed small cases.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "scfm/eval/cluster_metrics.h"
#include "scfm/eval/leiden.h"
#include "scfm/eval/linalg.h"
#include "scfm/eval/lisi.h"
#include "scfm/eval/neighbors.h"
#include "scfm/eval/scib.h"
#include "scfm/eval/silhouette.h"
#include "scfm/pp/harmony.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::eval;
using nlohmann::json;

namespace {

double uniform(uint64_t key) { return scfm::test::keyed_uniform(key); }
double normal(uint64_t key) { return scfm::test::keyed_normal(key); }

// n cells in `types` Gaussian clusters (separation `sep`) and `batches` batches, each batch
// shifting every cell by its own offset (strength `shift`).
struct Toy {
  int64_t n, d;
  std::vector<float> x;
  std::vector<int32_t> type, batch;
  EmbeddingView view() const { return {x.data(), n, d}; }
};
Toy toy(int64_t n, int64_t d, int types, int batches, double sep, double shift, uint64_t seed) {
  Toy t{n, d, std::vector<float>(static_cast<size_t>(n * d)), std::vector<int32_t>(n), std::vector<int32_t>(n)};
  for (int64_t i = 0; i < n; ++i) {
    t.type[i] = static_cast<int32_t>(i % types);
    t.batch[i] = static_cast<int32_t>((i / types) % batches);
    for (int64_t c = 0; c < d; ++c) {
      const double centre = sep * normal(seed * 7919 + 1000 * t.type[i] + c);
      const double offset = shift * normal(seed * 104729 + 500000 + 1000 * t.batch[i] + c);
      t.x[i * d + c] = static_cast<float>(centre + offset + normal(seed * 15485863 + 10000000 + i * d + c));
    }
  }
  return t;
}

json run_reference(const std::string& mode, const json& in) {
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json", in.dump());
  const auto r = scfm::test::run_python("eval/sklearn_reference.py", mode + " " + (dir / "in.json") + " " + (dir / "out.json"));
  if (r.exit_code != 0) throw std::runtime_error("sklearn_reference.py failed:\n" + r.output);
  return json::parse(scfm::test::read_text(dir / "out.json"));
}

SparseGraph from_edges(int64_t n, const std::vector<std::tuple<int64_t, int64_t, double>>& edges) {
  std::vector<std::vector<std::pair<int64_t, double>>> rows(static_cast<size_t>(n));
  for (const auto& [a, b, w] : edges) {
    rows[a].emplace_back(b, w);
    rows[b].emplace_back(a, w);
  }
  SparseGraph g;
  g.n = n;
  g.indptr.push_back(0);
  for (auto& r : rows) {
    std::sort(r.begin(), r.end());
    for (const auto& [c, w] : r) {
      g.indices.push_back(c);
      g.weights.push_back(w);
    }
    g.indptr.push_back(static_cast<int64_t>(g.indices.size()));
  }
  return g;
}

// The share of the kept vertices in the largest connected component among them.
double largest_share(const SparseGraph& g, const std::vector<char>& keep) {
  const std::vector<int64_t> comp = connected_components(g, keep);
  std::map<int64_t, int64_t> sizes;
  int64_t kept = 0;
  for (int64_t i = 0; i < g.n; ++i)
    if (keep[i]) {
      ++sizes[comp[i]];
      ++kept;
    }
  int64_t largest = 0;
  for (const auto& [c, s] : sizes) largest = std::max(largest, s);
  return static_cast<double>(largest) / static_cast<double>(kept);
}

}  // namespace

TEST(ClusterMetrics, HandComputedCases) {
  EXPECT_DOUBLE_EQ(nmi({0, 0, 1, 1}, {5, 5, 3, 3}), 1.0);  // same partition, other names
  EXPECT_DOUBLE_EQ(ari({0, 0, 1, 1}, {5, 5, 3, 3}), 1.0);
  EXPECT_DOUBLE_EQ(nmi({0, 0, 0}, {1, 1, 1}), 1.0);        // sklearn: both trivial -> 1
  EXPECT_DOUBLE_EQ(nmi({0, 1, 0, 1}, {0, 0, 1, 1}), 0.0);  // independent
  // a = 0 0 1 1, b = 0 0 0 1: sklearn ARI = 0 (pairs: tp 1, fp 2, fn 1, tn 8)
  EXPECT_NEAR(ari({0, 0, 1, 1}, {0, 0, 0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(binary_f1({0, 0, 1, 1}, 1, {2, 1, 1, 1}, 1), 2.0 * 2 / (2 * 2 + 1 + 0), 1e-12);
  EXPECT_DOUBLE_EQ(binary_f1({0, 0}, 1, {0, 0}, 1), 0.0);
  EXPECT_THROW(nmi({0, 1}, {0}), scfm::Error);
}

TEST(ClusterMetrics, EqualSklearnAndScipyOnRandomData) {
  const Toy t = toy(400, 6, 4, 3, 2.0, 0.7, 1);
  std::vector<int32_t> a(400), b(400);
  for (int i = 0; i < 400; ++i) {
    a[i] = static_cast<int32_t>(uniform(10 + i) * 5);
    b[i] = (a[i] + static_cast<int32_t>(uniform(9000 + i) * 3)) % 6;
  }
  const KnnGraph knn = exact_knn(t.view(), 15);
  const SparseGraph g = umap_connectivities(knn);
  std::vector<char> keep(400);
  for (int i = 0; i < 400; ++i) keep[i] = t.type[i] == 1 || t.type[i] == 2;
  json in = {{"a", a}, {"b", b}, {"labels", t.type}, {"batch", t.batch}, {"x", json::array()}};
  for (int64_t i = 0; i < t.n; ++i) in["x"].push_back(std::vector<float>(t.x.begin() + i * t.d, t.x.begin() + (i + 1) * t.d));
  in["graph"] = {{"indptr", g.indptr}, {"indices", g.indices}, {"weights", g.weights}, {"keep", std::vector<int>(keep.begin(), keep.end())}};
  const json ref = run_reference("metrics", in);

  EXPECT_NEAR(nmi(a, b), ref["nmi"].get<double>(), 1e-12);
  EXPECT_NEAR(ari(a, b), ref["ari"].get<double>(), 1e-12);
  const std::vector<double> sil = silhouette_samples(t.view(), t.type);
  const auto ref_sil = ref["silhouette_samples"].get<std::vector<double>>();
  ASSERT_EQ(sil.size(), ref_sil.size());
  double mean = 0;
  for (size_t i = 0; i < sil.size(); ++i) {
    EXPECT_NEAR(sil[i], ref_sil[i], 2e-5) << "cell " << i;
    mean += sil[i] / static_cast<double>(sil.size());
  }
  EXPECT_NEAR(mean, ref["silhouette_score"].get<double>(), 1e-5);
  EXPECT_NEAR(pc_regression(t.view(), t.batch), ref["pcr"].get<double>(), 1e-9);
  EXPECT_NEAR(largest_share(g, keep), ref["largest_component_share"].get<double>(), 1e-12);
}

TEST(Silhouette, HandComputedAndSingletons) {
  // 1-D points: A = {0, 1}, B = {4}; a(0) = 1, b(0) = 4 -> s = 0.75; a(1) = 1, b(1) = 3 -> 2/3;
  // B is a single cell -> 0
  const std::vector<float> x{0, 1, 4};
  const auto s = silhouette_samples({x.data(), 3, 1}, {0, 0, 1});
  EXPECT_NEAR(s[0], 0.75, 1e-6);
  EXPECT_NEAR(s[1], 2.0 / 3.0, 1e-6);
  EXPECT_DOUBLE_EQ(s[2], 0.0);
  EXPECT_THROW(silhouette_samples({x.data(), 3, 1}, {0, 0, 0}), scfm::Error);  // one label
}

TEST(Neighbors, ExactKnnIncludesSelfAndMatchesBruteForce) {
  const Toy t = toy(300, 5, 3, 2, 1.0, 0.5, 2);
  const KnnGraph g = exact_knn(t.view(), 10);
  for (int64_t i = 0; i < t.n; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t j = 0; j < t.n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < t.d; ++c) s += std::pow(double(t.x[i * t.d + c]) - double(t.x[j * t.d + c]), 2);
      if (j != i) all.emplace_back(std::sqrt(s), j);
    }
    std::sort(all.begin(), all.end());
    ASSERT_EQ(g.index[i * 10], i);
    for (int c = 1; c < 10; ++c) {
      ASSERT_EQ(g.index[i * 10 + c], all[c - 1].second) << "cell " << i << " neighbour " << c;
      ASSERT_NEAR(g.distance[i * 10 + c], all[c - 1].first, 1e-12);
    }
  }
}

TEST(Neighbors, UmapConnectivitiesHaveTheirDefiningProperties) {
  const Toy t = toy(500, 8, 4, 2, 1.5, 0.5, 3);
  const int64_t k = 15;
  const KnnGraph knn = exact_knn(t.view(), k);
  const SparseGraph g = umap_connectivities(knn);
  // symmetric, no diagonal, weights in (0, 1]
  auto weight = [&](int64_t i, int64_t j) {
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e)
      if (g.indices[e] == j) return g.weights[e];
    return 0.0;
  };
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
      ASSERT_NE(g.indices[e], i);
      ASSERT_GT(g.weights[e], 0);
      ASSERT_LE(g.weights[e], 1 + 1e-12);
      ASSERT_DOUBLE_EQ(weight(g.indices[e], i), g.weights[e]);
    }
  // each cell's nearest neighbour is at distance rho: its directed weight is 1, so the union is 1
  for (int64_t i = 0; i < g.n; ++i) EXPECT_DOUBLE_EQ(weight(i, knn.index[i * k + 1]), 1.0);
  // the directed weights w_ij (recovered from the union: u = w + w' - w w') sum to log2(k) per
  // cell, the bisection's target; checked where the reverse edge is absent (u = w)
  // (directly: rebuild the directed weights from the distances with the same rho)
  for (int64_t i = 0; i < 20; ++i) {
    const double rho = knn.distance[i * k + 1];
    // find sigma by the defining equation independently (bisection on our own)
    double lo = 1e-12, hi = 1e6;
    for (int it = 0; it < 200; ++it) {
      const double mid = std::sqrt(lo * hi);
      double s = 0;
      for (int64_t j = 1; j < k; ++j) s += std::exp(-std::max(0.0, knn.distance[i * k + j] - rho) / mid);
      (s > std::log2(double(k)) ? hi : lo) = mid;
    }
    const double sigma = std::sqrt(lo * hi);
    for (int64_t j = 1; j < k; ++j) {
      const int64_t c = knn.index[i * k + j];
      const double w = std::exp(-std::max(0.0, knn.distance[i * k + j] - rho) / sigma);
      // the union is at least the directed weight and equals it when c does not list i
      bool reverse = false;
      for (int64_t q = 1; q < k; ++q) reverse |= knn.index[c * k + q] == i;
      if (!reverse) EXPECT_NEAR(weight(i, c), w, 1e-4) << i << " -> " << c;
      else EXPECT_GE(weight(i, c) + 1e-4, w);
    }
  }
}

TEST(GraphConnectivity, HandComputedComponents) {
  // label 0 on vertices 0..3 with edges 0-1, 2-3 only (two components of 2: share 0.5),
  // label 1 on 4..6 connected through 5 (share 1): graph_conn = 0.75
  const SparseGraph g = from_edges(7, {{0, 1, 1}, {2, 3, 1}, {1, 4, 1}, {4, 5, 1}, {5, 6, 1}, {3, 6, 1}});
  std::vector<char> keep0{1, 1, 1, 1, 0, 0, 0}, keep1{0, 0, 0, 0, 1, 1, 1};
  EXPECT_DOUBLE_EQ(largest_share(g, keep0), 0.5);
  EXPECT_DOUBLE_EQ(largest_share(g, keep1), 1.0);
}

TEST(Lisi, ShortestPathsOnAHandGraph) {
  // path 0 -1.0- 1 -0.5- 2 -0.25- 3 and a shortcut 0 -2.0- 3
  const SparseGraph g = from_edges(4, {{0, 1, 1.0}, {1, 2, 0.5}, {2, 3, 0.25}, {0, 3, 2.0}});
  const GraphPaths p = shortest_path_neighbors(g, 3);
  // from 0: 1 at 1.0, 2 at 1.5, 3 at 1.75 (not 2.0)
  EXPECT_EQ(p.index[0], 1);
  EXPECT_EQ(p.index[1], 2);
  EXPECT_EQ(p.index[2], 3);
  EXPECT_DOUBLE_EQ(p.length[2], 1.75);
  // from 3: 2 at 0.25, 1 at 0.75, 0 at 1.75
  EXPECT_EQ(p.index[9], 2);
  EXPECT_EQ(p.index[10], 1);
  EXPECT_DOUBLE_EQ(p.length[11], 1.75);
  // too few reachable cells: -1 marks the gap, and LISI is scib's 1
  const GraphPaths q = shortest_path_neighbors(from_edges(3, {{0, 1, 1.0}}), 2);
  EXPECT_EQ(q.index[1], -1);
  EXPECT_DOUBLE_EQ(graph_lisi(q, {0, 1, 0}, 2)[0], 1.0);
}

TEST(Lisi, SymmetricNeighbourhoodsGiveExactValues) {
  // one cell (0) with nine neighbours at lengths 1,1,1,2,2,2,3,3,3. Each length group holding one
  // cell of each of three categories -> every category gets a third of the weight, LISI = 3; the
  // categories A,B,A,B,... over the pairs of a 2-category layout (lengths 1,1,2,2,3,3 below) -> 2;
  // all one category -> 1, whatever the weights
  auto paths = [](const std::vector<double>& len) {
    GraphPaths p;
    p.k = static_cast<int64_t>(len.size());
    p.n = p.k + 1;
    p.index.assign(static_cast<size_t>(p.n * p.k), -1);
    p.length.assign(static_cast<size_t>(p.n * p.k), 0);
    for (int64_t j = 0; j < p.k; ++j) {
      p.index[j] = j + 1;
      p.length[j] = len[j];
    }
    return p;
  };
  const GraphPaths three = paths({1, 1, 1, 2, 2, 2, 3, 3, 3});
  EXPECT_NEAR(graph_lisi(three, {0, 0, 1, 2, 0, 1, 2, 0, 1, 2}, 3)[0], 3.0, 1e-9);
  const GraphPaths two = paths({1, 1, 2, 2, 3, 3});
  EXPECT_NEAR(graph_lisi(two, {0, 0, 1, 0, 1, 0, 1}, 2)[0], 2.0, 1e-9);
  EXPECT_NEAR(graph_lisi(two, {0, 0, 0, 0, 0, 0, 0}, 2)[0], 1.0, 1e-12);
}

TEST(Leiden, TwoCliquesAndDeterminism) {
  std::vector<std::tuple<int64_t, int64_t, double>> e;
  for (int a = 0; a < 6; ++a)
    for (int b = a + 1; b < 6; ++b) {
      e.emplace_back(a, b, 1.0);
      e.emplace_back(a + 6, b + 6, 1.0);
    }
  e.emplace_back(0, 6, 0.1);
  const SparseGraph g = from_edges(12, e);
  const LeidenResult r = leiden(g, 1.0, 0);
  ASSERT_EQ(r.n_clusters, 2);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(r.membership[i], r.membership[0]);
    EXPECT_EQ(r.membership[i + 6], r.membership[6]);
  }
  EXPECT_NE(r.membership[0], r.membership[6]);
  // modularity of this split: internal 2 * 15 per clique, strengths 30.1 each, 2m = 60.2
  EXPECT_NEAR(r.modularity, 2 * (30.0 - 30.1 * 30.1 / 60.2) / 60.2, 1e-12);
  // a high resolution splits further; the same seed gives the same result
  const Toy t = toy(600, 6, 5, 2, 2.0, 0.2, 4);
  const SparseGraph tg = umap_connectivities(exact_knn(t.view(), 15));
  const LeidenResult a = leiden(tg, 1.0, 7), b = leiden(tg, 1.0, 7), c = leiden(tg, 3.0, 7);
  EXPECT_EQ(a.membership, b.membership);
  EXPECT_GT(c.n_clusters, a.n_clusters);
  EXPECT_GT(nmi(t.type, a.membership), 0.8);  // separated types are found
  EXPECT_THROW(leiden(tg, 0.0), scfm::Error);
}

TEST(Leiden, EndsOnSmallDenseGraphsAtHighResolution) {
  // igraph's "until nothing changes" looped forever on a 6-gene program graph at resolution 40
  // (scfm grn programs --genes with 6 genes); one pass at a time until the quality stops rising
  // ends, and at such a resolution every vertex is best alone
  for (int n = 2; n <= 9; ++n)
    for (double resolution : {1.0, 10.0, 40.0}) {
      std::vector<std::tuple<int64_t, int64_t, double>> e;
      for (int a = 0; a < n; ++a)
        for (int b = a + 1; b < n; ++b) e.emplace_back(a, b, 0.2 + 0.8 * scfm::test::keyed_uniform(uint64_t(n * 100 + a * 10 + b)));
      const LeidenResult r = leiden(from_edges(n, e), resolution, 0);
      ASSERT_EQ(r.membership.size(), static_cast<size_t>(n));
      for (int32_t m : r.membership) EXPECT_TRUE(m >= 0 && m < r.n_clusters);
      if (resolution == 40.0) EXPECT_EQ(r.n_clusters, n) << n;
    }
}

TEST(Pca, MatchesAHandComputedCovariance) {
  // points on a line y = 2x with noise-free spread: one component carries all the variance
  const std::vector<float> x{0, 0, 1, 2, 2, 4, 3, 6};
  const Pca p = pca(x.data(), 4, 2, 2);
  EXPECT_NEAR(p.variance[0], 5.0 * 5.0 / 3.0, 1e-9);  // var(x) + var(y) = 5/3 + 20/3
  EXPECT_NEAR(p.variance[1], 0.0, 1e-9);
  EXPECT_NEAR(std::fabs(p.scores[0]), 1.5 * std::sqrt(5.0), 1e-9);
}

TEST(Scib, EndToEndOnSeparatedAndMixedBatches) {
  // types well apart; strong batch offsets (unintegrated) vs the same cells without them
  const Toy raw = toy(900, 10, 3, 3, 3.0, 2.0, 5), clean = toy(900, 10, 3, 3, 3.0, 0.0, 5);
  const std::vector<std::string> types{"t0", "t1", "t2"}, batches{"b0", "b1", "b2"};
  const double pre = pc_regression(raw.view(), raw.batch);
  const ScibResult r_raw = scib_metrics(raw.view(), raw.type, types, raw.batch, batches, pre);
  const ScibResult r_clean = scib_metrics(clean.view(), clean.type, types, clean.batch, batches, pre);
  auto m = [](const ScibResult& r, const char* k) { return r.metrics[k].get<double>(); };
  // batch-free cells mix batches: better iLISI, ASW batch, PCR; the types stay as clear
  EXPECT_GT(m(r_clean, "iLISI"), m(r_raw, "iLISI") + 0.3);
  EXPECT_GT(m(r_clean, "ASW_label/batch"), m(r_raw, "ASW_label/batch"));
  EXPECT_GT(m(r_clean, "PCR_batch"), 0.9);
  EXPECT_DOUBLE_EQ(m(r_raw, "PCR_batch"), 0.0);
  EXPECT_GT(m(r_clean, "NMI_cluster/label"), 0.9);
  EXPECT_GT(m(r_clean, "graph_conn"), 0.95);
  EXPECT_NEAR(m(r_clean, "overall"), 0.6 * m(r_clean, "avg_bio") + 0.4 * m(r_clean, "avg_batch"), 1e-12);
  // every type is in every batch: no isolated label
  EXPECT_TRUE(r_clean.metrics["isolated_label_F1"].is_null());
  // the scib pieces equal their definitions on the returned clustering
  EXPECT_NEAR(m(r_clean, "ARI_cluster/label"), ari(clean.type, r_clean.clusters), 1e-12);
  EXPECT_NEAR(m(r_clean, "NMI_cluster/label"), nmi(clean.type, r_clean.clusters), 1e-12);
  // bad input: one batch
  EXPECT_THROW(scib_metrics(clean.view(), clean.type, types, std::vector<int32_t>(900, 0), batches, pre), scfm::Error);
}

TEST(Harmony, EqualsHarmonypyFromTheSameStart) {
  const Toy t = toy(240, 5, 3, 2, 2.5, 1.5, 6);
  const int64_t k = 4;
  // starting centroids: the first cell of each of k evenly spaced positions (normalised inside)
  std::vector<double> c;
  for (int64_t j = 0; j < k; ++j)
    for (int64_t q = 0; q < t.d; ++q) c.push_back(t.x[(j * 59) * t.d + q]);
  scfm::pp::HarmonyOptions o;
  o.theta = 2;
  o.sigma = 0.1;
  o.n_clusters = k;
  o.block_size = 1;  // one block: the update order does not matter
  o.max_iter_harmony = 5;
  o.initial_centroids = c;
  const auto h = scfm::pp::harmony(t.x.data(), t.n, t.d, t.batch, o);
  json in = {{"z", json::array()}, {"batch", t.batch}, {"theta", 2.0}, {"sigma", 0.1}, {"block_size", 1.0},
             {"max_iter_harmony", 5}, {"centroids", json::array()}};
  for (int64_t i = 0; i < t.n; ++i) in["z"].push_back(std::vector<float>(t.x.begin() + i * t.d, t.x.begin() + (i + 1) * t.d));
  for (int64_t j = 0; j < k; ++j) in["centroids"].push_back(std::vector<double>(c.begin() + j * t.d, c.begin() + (j + 1) * t.d));
  const json ref = run_reference("harmony", in);
  const auto obj = ref["objective"].get<std::vector<double>>();
  ASSERT_EQ(h.objective.size(), obj.size());
  for (size_t i = 0; i < obj.size(); ++i) EXPECT_NEAR(h.objective[i], obj[i], 1e-6 * std::fabs(obj[i])) << "round " << i;
  EXPECT_EQ(h.kmeans_rounds, ref["kmeans_rounds"].get<std::vector<int>>());
  const auto z = ref["corrected"];
  for (int64_t i = 0; i < t.n; ++i)
    for (int64_t q = 0; q < t.d; ++q) ASSERT_NEAR(h.corrected[i * t.d + q], z[i][q].get<double>(), 1e-4) << i << "," << q;
}

TEST(Harmony, MixesBatchesKeepsTypesAndIsDeterministic) {
  const Toy t = toy(900, 10, 3, 3, 3.0, 2.0, 7);
  const std::vector<std::string> types{"t0", "t1", "t2"}, batches{"b0", "b1", "b2"};
  const auto h = scfm::pp::harmony(t.x.data(), t.n, t.d, t.batch);
  const auto h2 = scfm::pp::harmony(t.x.data(), t.n, t.d, t.batch);
  EXPECT_EQ(h.corrected, h2.corrected);
  const double pre = pc_regression(t.view(), t.batch);
  const ScibResult before = scib_metrics(t.view(), t.type, types, t.batch, batches, pre);
  const ScibResult after = scib_metrics({h.corrected.data(), t.n, t.d}, t.type, types, t.batch, batches, pre);
  EXPECT_GT(after.metrics["iLISI"].get<double>(), before.metrics["iLISI"].get<double>() + 0.2);
  EXPECT_GT(after.metrics["NMI_cluster/label"].get<double>(), 0.85);
  // stops on harmonypy's rule: converged, or the round limit
  EXPECT_TRUE(h.converged || h.rounds == 10);
  EXPECT_EQ(h.objective.size(), static_cast<size_t>(h.rounds + 1));
}
