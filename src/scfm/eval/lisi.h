// Graph LISI (local inverse Simpson's index) as scib computes it (scib.metrics.lisi_graph_py and
// its knn_graph.cpp): on the connectivities of the neighbourhood graph, taken as edge LENGTHS
// (scib's choice: a strong connection counts as a long edge), each cell's k0 = 90 nearest cells
// by shortest path (Dijkstra, the cell itself excluded); the path lengths D get Gaussian weights
// P = exp(-beta D) / sum, beta found by bisection (at most 50 steps, tolerance 1e-5) so that the
// entropy of P is log(perplexity), perplexity = floor(k0 / 3); Simpson's index = sum over
// categories of (sum of P over that category's neighbours)^2, and LISI = 1 / Simpson.
// scib's edge cases are kept: a cell that reaches fewer than k0 cells gets LISI 1, one whose
// weights have zero entropy gets -1. scib subsamples cells at random (metrics() uses half);
// scfm scores every cell, so the result is deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/eval/neighbors.h"

namespace scfm::eval {

struct GraphPaths {
  int64_t n = 0, k = 0;
  std::vector<int64_t> index;    // n x k, nearest first; -1 where fewer than k were reachable
  std::vector<double> length;    // n x k
};

// Each vertex's k nearest vertices by shortest-path length (ties: the lower vertex first).
GraphPaths shortest_path_neighbors(const SparseGraph& graph, int64_t k);

// LISI of every cell for the categories `codes` (0..n_categories-1).
std::vector<double> graph_lisi(const GraphPaths& paths, const std::vector<int32_t>& codes, int32_t n_categories,
                               double perplexity = 0 /* 0: floor(k / 3) */);

}  // namespace scfm::eval
