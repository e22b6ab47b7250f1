// UMAP (McInnes et al. 2018) as scanpy runs it: sc.pp.neighbors(n_neighbors=15) then
// sc.tl.umap(min_dist=0.5, spread=1, init_pos='spectral'), that is umap-learn 0.5's
// simplicial_set_embedding on the fuzzy simplicial set of eval::neighbors.
//
// What is the same as umap-learn: the graph (exact kNN + umap_connectivities), the curve
// 1 / (1 + a d^(2b)) with a, b fitted to (min_dist, spread) by least squares, edges sampled in
// proportion to their weight (those below max/n_epochs dropped), 500 epochs up to 10,000 cells
// and 200 beyond, negative_sample_rate 5, gradients clipped at 4, a learning rate falling
// linearly from 1, the spectral start (the normalised Laplacian's smallest non-trivial
// eigenvectors, ARPACK through igraph, scaled to 10 then to [0, 10] per axis, plus N(0, 1e-4)
// noise) and, for a disconnected graph, the components placed apart as umap-learn's
// multi_component_layout places them.
//
// The optimiser, two ways (docs/umap.md). "sequential" is umap-learn's own loop as scanpy runs
// it (a seed makes umap-learn run on one thread): edge by edge in CSR order, both ends moving at
// once, negative samples read where they are at that moment. "parallel" runs each epoch against
// the positions of the previous one: a cell moves by its own edges and negative samples, reading
// the other cells where they stood when the epoch began, so cells can be spread over threads;
// the attraction umap-learn gives an edge's tail comes from the reverse edge, which the symmetric
// graph holds (applied twice, as umap-learn moves both ends of both directed edges). On small
// data the sequential loop keeps more of the neighbourhoods (pbmc_small: trustworthiness 0.895
// against 0.874), so "auto" uses it up to 20,000 cells. Negative samples come from random numbers
// keyed by (seed, epoch, edge, draw), never from a thread's generator: either way the layout is
// the same, bit for bit, for any thread count (umap-learn without a seed runs Hogwild threads
// and changes from run to run).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/eval/neighbors.h"

namespace scfm::eval {

struct UmapOptions {
  int64_t n_neighbors = 15;       // of the kNN graph, the cell itself included (scanpy)
  int dim = 2;
  double min_dist = 0.5, spread = 1.0;  // scanpy's defaults (umap-learn's own min_dist is 0.1)
  int n_epochs = 0;               // 0: 500 up to 10,000 cells, else 200
  double negative_sample_rate = 5, repulsion_strength = 1, learning_rate = 1;
  uint64_t seed = 0;
  std::string init = "spectral";  // "spectral" or "random" (uniform in [0, 10])
  // "sequential": umap-learn's order on one thread (edge by edge, both ends moving at once);
  // "parallel": epoch against epoch on every thread (below); "auto": sequential up to 20,000
  // cells. Both give the same bits for any thread count.
  std::string layout = "auto";
};

struct UmapResult {
  int64_t n = 0;
  int dim = 2;
  std::vector<float> x;        // n x dim, row-major
  double a = 0, b = 0;         // the fitted curve (uns['umap']['params'] in scanpy)
  int n_epochs = 0;
  int64_t n_edges = 0;         // directed edges kept for the optimisation
  int components = 1;          // connected components of the graph
  std::string init;            // what the start was ("spectral", "random", or a fallback note)
  double knn_seconds = 0, init_seconds = 0, layout_seconds = 0;
};

// umap-learn's find_ab_params: a, b of 1 / (1 + a x^(2b)) fitted by least squares to 1 below
// min_dist and exp(-(x - min_dist) / spread) above, on 300 points in [0, 3 spread]
// (Levenberg-Marquardt from (1, 1), as scipy's curve_fit).
void umap_ab(double spread, double min_dist, double& a, double& b);

// The spectral start of a connected or disconnected graph (dim columns, row-major; before
// umap-learn's scaling to [0, 10]): see above. `data` gives the component centroids of a
// disconnected graph. `note` says when ARPACK failed and a random start was used instead.
std::vector<double> umap_spectral_init(const SparseGraph& g, const EmbeddingView& data, int dim, uint64_t seed,
                                       std::string* note = nullptr);

// Lays out `graph` (umap_connectivities) in opt.dim dimensions from the start `init`
// (n x dim, row-major, already scaled). Same bits for any thread count.
void umap_optimize(const SparseGraph& graph, const UmapOptions& opt, int n_epochs, double a, double b,
                   std::vector<float>& y, int64_t* n_edges = nullptr);

// The whole of it from an embedding: the graph, the start, the layout. Throws scfm::Error for an
// empty embedding, non-finite values, fewer than 3 cells or options out of range.
UmapResult umap(const EmbeddingView& x, const UmapOptions& opt = {});

// sklearn.manifold.trustworthiness(X, Y, n_neighbors=k) with Euclidean distances: how far the k
// nearest neighbours in the layout y were, in rank, from each cell in x. 1 = every layout
// neighbour is among the k nearest in x. Needs k < n / 2. O(n^2) time, O(n) memory a thread.
double trustworthiness(const EmbeddingView& x, const EmbeddingView& y, int64_t k = 15);

}  // namespace scfm::eval
