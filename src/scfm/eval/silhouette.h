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

}  // namespace scfm::eval
