// Harmony (Korsunsky et al. 2019, Nature Methods 16:1289): batch correction of a PCA embedding,
// as harmonypy implements it (the Python port scanpy's sc.external.pp.harmony_integrate calls).
//
// Soft k-means on the cosine-normalised cells with a diversity penalty (cluster assignments R are
// pushed towards every batch's share by theta), alternating with a mixture-of-experts ridge
// correction: per cluster k, a linear model of the cells on their batch (ridge lambda, intercept
// not penalised and not removed), subtracted from every cell in proportion to R_k. Stops when the
// objective improves by less than epsilon_harmony (relative) or after max_iter_harmony rounds.
//
// Same algorithm, objective and defaults as harmonypy except where noted:
//   - the starting centroids come from scfm's own k-means (k-means++ seeding, 10 starts, 25
//     Lloyd steps, the best inertia kept; keyed by the seed) instead of sklearn's KMeans, and
//     the order in which blocks of cells update R is a permutation keyed by (seed, round), not
//     numpy's global generator: the same inputs and seed give the same result on any machine;
//   - theta defaults to 2 (the Harmony paper's and R package's value; Debian's harmonypy 0.0.9
//     uses 1).
// Given the same starting centroids and one block (block_size 1), the result equals harmonypy's
// (tests/pp/harmony_test.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace scfm::pp {

struct HarmonyOptions {
  double theta = 2;            // diversity penalty, one value for every batch
  double lambda = 1;           // ridge penalty, one value for every batch
  double sigma = 0.1;          // soft k-means bandwidth, every cluster
  int64_t n_clusters = 0;      // 0: min(round(N / 30), 100), harmonypy's rule
  double block_size = 0.05;    // share of the cells whose R is updated at a time
  int max_iter_harmony = 10;
  int max_iter_kmeans = 20;
  double epsilon_cluster = 1e-5;
  double epsilon_harmony = 1e-4;
  uint64_t seed = 0;
  // K x d starting centroids (row-major), instead of k-means; for comparisons with harmonypy.
  std::vector<double> initial_centroids;
};

struct HarmonyResult {
  int64_t n = 0, d = 0, n_clusters = 0;
  std::vector<float> corrected;      // n x d, row-major (harmonypy's Z_corr transposed)
  std::vector<double> objective;     // after the initial clustering and after each round
  std::vector<int> kmeans_rounds;    // k-means iterations per round
  int rounds = 0;
  bool converged = false;
};

// z: n x d row-major (cells x PCs); batch: one code 0..B-1 per cell. Throws scfm::Error on sizes
// that disagree, a missing batch code, fewer than 2 cells per cluster or non-finite input.
HarmonyResult harmony(const float* z, int64_t n, int64_t d, const std::vector<int32_t>& batch,
                      const HarmonyOptions& options = {});

}  // namespace scfm::pp
