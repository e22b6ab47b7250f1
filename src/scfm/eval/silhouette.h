// Silhouette widths with scikit-learn's definitions (silhouette_samples, Euclidean): for cell i
// in cluster A, a = mean distance to the other cells of A, b = the smallest mean distance to the
// cells of another cluster, s = (b - a) / max(a, b); 0 for a cell alone in its cluster.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/eval/neighbors.h"

namespace scfm::eval {

// One width per row of x. codes: one non-negative cluster code per row; at least 2 and at most
// n - 1 distinct codes (sklearn's requirement), else scfm::Error. rows: when non-empty, only
// these rows of x take part (the result has one width per listed row, in that order).
// Distances come from blocked float products of the centred rows, summed in double.
std::vector<double> silhouette_samples(const EmbeddingView& x, const std::vector<int32_t>& codes,
                                       const std::vector<int64_t>& rows = {});

// The per-row step of silhouette_samples, for a pass that computes the distances once for
// several uses: the pass must visit the rows in order() (cells sorted by cluster, so that each
// cluster is one range of columns); row(p, d2) takes position p's squared distances to every
// position (and overwrites them). Calls for different rows may run concurrently.
class SilhouetteCollector {
 public:
  // codes: one cluster code per row of the view (rows = all, or the listed ones)
  SilhouetteCollector(const std::vector<int32_t>& codes, const std::vector<int64_t>& rows, int64_t n_view);
  // source row (of the view) of each position
  const std::vector<int64_t>& source_rows() const { return source_; }
  void row(int64_t position, float* d2);
  std::vector<double> take() { return std::move(out_); }

 private:
  int32_t k_ = 0;
  std::vector<int32_t> lab_;      // dense cluster of each listed row
  std::vector<int64_t> order_;    // position -> listed row
  std::vector<int64_t> source_;   // position -> row of the view
  std::vector<int64_t> start_;    // cluster c = positions [start[c], start[c+1])
  std::vector<double> out_;       // per listed row
};

}  // namespace scfm::eval
