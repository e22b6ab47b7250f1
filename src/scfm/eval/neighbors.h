// The one neighbourhood graph every integration metric and clustering uses, built as scanpy's
// sc.pp.neighbors(adata, n_neighbors=15, use_rep=KEY) builds it: exact Euclidean k nearest
// neighbours (the cell itself counted as the first of the k), then UMAP's fuzzy simplicial set
// (umap-learn's smooth_knn_dist and fuzzy union) as the symmetric weight matrix `connectivities`.
#pragma once

#include <cstdint>
#include <vector>

namespace scfm::eval {

// A row-major float embedding: n rows (cells) x d columns. Does not own the values.
struct EmbeddingView {
  const float* x = nullptr;
  int64_t n = 0, d = 0;
  const float* row(int64_t i) const { return x + i * d; }
};

struct KnnGraph {
  int64_t n = 0, k = 0;
  std::vector<int64_t> index;     // n x k: row i's neighbours, nearest first; index[i*k] = i
  std::vector<double> distance;   // n x k: Euclidean distances (0 for the cell itself)
};

// Exact k nearest neighbours by Euclidean distance (k includes the cell itself, scanpy's
// convention; capped at n). Candidates come from a float ranking of the centred embedding, then
// distances are recomputed in double and sorted by (distance, row): the result is the same for
// any thread count. Throws scfm::Error when k < 1 or the embedding is empty or holds NaN/inf.
KnnGraph exact_knn(const EmbeddingView& x, int64_t k);

// The per-row step of exact_knn, for a pass that computes the distances once for several uses
// (eval::for_each_distance_row): row(i, d2) takes row i's squared float distances to every row
// and keeps its k nearest (then exact in double). With `order` given, position p of the pass is
// row order[p] of x, and row() receives positions; the graph is in x's own row order. Calls for
// different rows may run concurrently.
class KnnCollector {
 public:
  KnnCollector(const EmbeddingView& x, int64_t k, std::vector<int64_t> order = {});
  void row(int64_t position, const float* d2);
  KnnGraph take() { return std::move(graph_); }

 private:
  EmbeddingView x_;
  int64_t m_ = 0;
  std::vector<int64_t> order_;
  KnnGraph graph_;
};

// A symmetric sparse weight matrix in CSR form, columns sorted within a row, no diagonal.
struct SparseGraph {
  int64_t n = 0;
  std::vector<int64_t> indptr;   // n + 1
  std::vector<int64_t> indices;
  std::vector<double> weights;
  int64_t degree(int64_t i) const { return indptr[i + 1] - indptr[i]; }
};

// UMAP's connectivities (umap-learn 0.5 fuzzy_simplicial_set with set_op_mix_ratio 1,
// local_connectivity 1, as scanpy calls it): per cell rho = the distance to its nearest
// non-identical neighbour, sigma found by bisection (64 steps, tolerance 1e-5) so that
// sum_j exp(-max(0, d_j - rho) / sigma) = log2(k), floored at 1e-3 times the mean neighbour
// distance; weight w_ij = exp(-(d_ij - rho_i) / sigma_i) (1 within rho); then the fuzzy union
// W + W^T - W o W^T.
SparseGraph umap_connectivities(const KnnGraph& knn);

// Connected components (a symmetric graph: weak = strong); the component of each vertex, numbered
// by first vertex. Only vertices with keep[v] (all when empty) and edges between them count.
std::vector<int64_t> connected_components(const SparseGraph& g, const std::vector<char>& keep = {});

}  // namespace scfm::eval
