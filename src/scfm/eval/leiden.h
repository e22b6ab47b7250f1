// Leiden clustering of the neighbourhood graph, as scanpy's sc.tl.leiden does it (leidenalg's
// RBConfigurationVertexPartition: modularity with a resolution, edge weights = connectivities,
// passes repeated until one no longer raises the quality, leidenalg's rule; igraph's "until the
// partition does not change" can loop forever on small dense graphs), on igraph's own C implementation
// (igraph_community_leiden with node weights = strengths and resolution gamma / 2m, the form
// igraph documents as modularity). The result is the same for the same graph, resolution and
// seed; it is not leidenalg's partition cell for cell (another random sequence), only the same
// objective.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "scfm/eval/neighbors.h"

namespace scfm::eval {

struct LeidenResult {
  std::vector<int32_t> membership;  // cluster of each vertex: 0 = the largest cluster, ...
  int32_t n_clusters = 0;
  double modularity = 0;            // generalised modularity at `resolution`
};

// Throws scfm::Error when igraph fails or the resolution is not positive. igraph is not
// thread-safe: calls are serialised inside.
LeidenResult leiden(const SparseGraph& graph, double resolution, uint64_t seed = 0);

// igraph keeps global state (error handler, random generator): every igraph call in scfm holds
// this lock (Leiden here, ARPACK in eval::umap).
std::mutex& igraph_mutex();

}  // namespace scfm::eval
