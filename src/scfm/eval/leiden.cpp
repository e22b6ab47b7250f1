#include "scfm/eval/leiden.h"

#include <igraph/igraph.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <string>

#include "scfm/util/error.h"

namespace scfm::eval {
std::mutex& igraph_mutex() {
  static std::mutex m;
  return m;
}

namespace {

void check(igraph_error_t rc, const char* what) {
  if (rc != IGRAPH_SUCCESS)
    throw Error(std::string("leiden: igraph ") + what + " failed: " + igraph_strerror(rc));
}

// RAII holders for igraph's C objects.
struct Graph {
  igraph_t g;
  bool ok = false;
  ~Graph() {
    if (ok) igraph_destroy(&g);
  }
};
struct Vec {
  igraph_vector_t v;
  explicit Vec(igraph_integer_t n) { check(igraph_vector_init(&v, n), "vector_init"); }
  ~Vec() { igraph_vector_destroy(&v); }
};
struct IntVec {
  igraph_vector_int_t v;
  explicit IntVec(igraph_integer_t n) { check(igraph_vector_int_init(&v, n), "vector_int_init"); }
  ~IntVec() { igraph_vector_int_destroy(&v); }
};

}  // namespace

LeidenResult leiden(const SparseGraph& graph, double resolution, uint64_t seed) {
  if (!(resolution > 0)) throw Error("leiden: the resolution must be positive, got " + std::to_string(resolution));
  const int64_t n = graph.n;
  LeidenResult out;
  if (n == 0) return out;
  std::lock_guard<std::mutex> lock(igraph_mutex());
  igraph_set_error_handler(igraph_error_handler_ignore);
  // each undirected edge once (i < j)
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = graph.indptr[i]; e < graph.indptr[i + 1]; ++e) m += graph.indices[e] > i;
  IntVec edges(2 * m);
  Vec weights(m);
  Vec strength(n);
  double total = 0;
  int64_t w = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = graph.indptr[i]; e < graph.indptr[i + 1]; ++e) {
      const int64_t j = graph.indices[e];
      VECTOR(strength.v)[i] += graph.weights[e];
      total += graph.weights[e];
      if (j <= i) continue;
      VECTOR(edges.v)[2 * w] = i;
      VECTOR(edges.v)[2 * w + 1] = j;
      VECTOR(weights.v)[w] = graph.weights[e];
      ++w;
    }
  Graph g;
  check(igraph_create(&g.g, &edges.v, n, IGRAPH_UNDIRECTED), "create");
  g.ok = true;
  check(igraph_rng_seed(igraph_rng_default(), static_cast<igraph_uint_t>(seed)), "rng_seed");
  IntVec membership(n);
  igraph_integer_t n_clusters = 0;
  igraph_real_t quality = 0;
  // total = 2m (each edge counted from both ends); an edgeless graph: every vertex alone
  const double gamma = total > 0 ? resolution / total : resolution;
  // One pass at a time, as leidenalg's optimise_partition does: stop when a pass no longer raises
  // the quality. igraph's own "until the partition does not change" (n_iterations = -1) never ends
  // on some small dense graphs at high resolution (6 genes, all joined, resolution 40: the
  // refinement keeps moving vertices between partitions of equal quality).
  constexpr int kMaxPasses = 1000;
  const igraph_vector_t* node_weights = total > 0 ? &strength.v : nullptr;
  check(igraph_community_leiden(&g.g, &weights.v, node_weights, gamma, /*beta=*/0.01, /*start=*/false,
                                /*n_iterations=*/1, &membership.v, &n_clusters, &quality),
        "community_leiden");
  IntVec previous(n);
  for (int pass = 1; pass < kMaxPasses; ++pass) {
    check(igraph_vector_int_update(&previous.v, &membership.v), "vector_update");
    const igraph_integer_t previous_clusters = n_clusters;
    const igraph_real_t previous_quality = quality;
    check(igraph_community_leiden(&g.g, &weights.v, node_weights, gamma, /*beta=*/0.01, /*start=*/true,
                                  /*n_iterations=*/1, &membership.v, &n_clusters, &quality),
          "community_leiden");
    if (quality > previous_quality + 1e-12 * std::abs(previous_quality)) continue;
    if (quality < previous_quality) {  // keep the better partition
      check(igraph_vector_int_update(&membership.v, &previous.v), "vector_update");
      n_clusters = previous_clusters;
      quality = previous_quality;
    }
    break;
  }
  // renumber: largest cluster first, ties by the first vertex
  std::vector<int64_t> size(static_cast<size_t>(n_clusters), 0), first(static_cast<size_t>(n_clusters), n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = VECTOR(membership.v)[i];
    ++size[c];
    first[c] = std::min(first[c], i);
  }
  std::vector<int32_t> order(static_cast<size_t>(n_clusters));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return size[a] != size[b] ? size[a] > size[b] : first[a] < first[b];
  });
  std::vector<int32_t> rank(static_cast<size_t>(n_clusters));
  for (int32_t r = 0; r < n_clusters; ++r) rank[order[r]] = r;
  out.membership.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.membership[i] = rank[VECTOR(membership.v)[i]];
  out.n_clusters = static_cast<int32_t>(n_clusters);
  // modularity with resolution: sum over clusters of (internal weight - gamma K_c^2 / 2m) / 2m
  if (total > 0) {
    std::vector<double> internal(static_cast<size_t>(n_clusters), 0), strength_sum(static_cast<size_t>(n_clusters), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t e = graph.indptr[i]; e < graph.indptr[i + 1]; ++e) {
        strength_sum[out.membership[i]] += graph.weights[e];
        if (out.membership[graph.indices[e]] == out.membership[i]) internal[out.membership[i]] += graph.weights[e];
      }
    double q = 0;
    for (int32_t c = 0; c < n_clusters; ++c) q += internal[c] - resolution * strength_sum[c] * strength_sum[c] / total;
    out.modularity = q / total;
  }
  return out;
}

}  // namespace scfm::eval
