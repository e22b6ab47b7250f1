// scfm map: reference mapping. Query cells take the label of their nearest reference cells in an
// embedding space (obsm[key] of both files), found with a faiss index, and a vote among the k
// neighbours decides the label.
//
// Indexes (NeighborIndex):
//   flat   exact search: faiss IndexFlatIP on L2-normalised vectors (cosine) or IndexFlatL2 (l2).
//   ivfpq  compressed, for large references, built as scGPT builds its CELLxGENE index (PCA, an
//          inverted file, product quantisation), sized to the reference by plan_index():
//          PCA to 64 dims (random rotation after PCA, when the embedding is wider), nlist = 4 sqrt(N)
//          clamped to [16, 65536] and to N / 39 (faiss' minimum training points per list),
//          PQ with m = the largest divisor of the PCA width <= 32 (m bytes per cell, 8-bit codes),
//          nprobe = the smallest power of two whose recall@k on 512 reference cells is >= 0.91
//          (0.9 + a margin for the sample), or where recall stops improving (calibrated after
//          building; saved in the index file). The recall calibrated is that of the search
//          map_cells() runs: 4k candidates from the index re-ranked with exact distances.
//   auto   flat below 100,000 reference cells, ivfpq from there.
// For cosine every index starts with faiss' NormalizationTransform, so a saved index knows its
// metric and queries are normalised by the index itself.
//
// Distances reported (Neighbors::distance, obs scfm_map_distance): cosine: 1 - cos(query, ref);
// l2: the Euclidean distance. With ivfpq, map_cells() re-ranks the index's candidates with exact
// distances from the reference embeddings (the index proposes kRerankFactor * k candidates), so
// the distances written are exact.
//
// Votes among the k neighbours (reference cells with no label are not in the index):
//   majority  the most frequent label; ties: the smaller summed distance of the tied labels, then
//             the lower class code (classes sorted by name). share = its count / neighbours found.
//   weighted  each neighbour adds 1 / (distance + 1e-6) to its label; the largest total wins
//             (ties: lower class code). share = its total / the sum of all weights.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scfm/eval/dataset.h"

namespace faiss {
struct Index;
}

namespace scfm::tasks {

enum class MapMetric { Cosine, L2 };
enum class MapIndexKind { Flat, IvfPq, Auto };
enum class MapVote { Majority, Weighted };

MapMetric parse_map_metric(const std::string& s);     // "cosine" | "l2"; throws scfm::Error
MapIndexKind parse_map_index(const std::string& s);   // "flat" | "ivfpq" | "auto"
MapVote parse_map_vote(const std::string& s);         // "majority" | "weighted"
std::string to_string(MapMetric m);
std::string to_string(MapIndexKind k);
std::string to_string(MapVote v);

// The shape of an index for a reference of n cells of width dim (see the header comment).
struct IndexPlan {
  MapIndexKind kind = MapIndexKind::Flat;  // Flat or IvfPq (never Auto)
  int64_t pca_dim = 0;                     // 0: no PCA
  bool pca_rotation = true;                // a random rotation after the PCA (balances PQ's sub-spaces)
  int64_t nlist = 0, pq_m = 0;
  int64_t pq_bits = 8;                     // bits per PQ code (4 with fast_scan)
  bool fast_scan = false;                  // faiss' SIMD IndexIVFPQFastScan (experiments: bench_map --fs)
  int64_t nprobe = 0;                      // 0: calibrate after building
  int64_t train_size = 0;                  // cells the index is trained on (a seeded sample)
  std::string description() const;         // faiss index_factory-style, e.g. "PCAR64,IVF4000,PQ32"
};
constexpr int64_t kAutoFlatBelow = 100000;
IndexPlan plan_index(int64_t n, int64_t dim, MapIndexKind kind);

constexpr int64_t kRerankFactor = 4;

struct IndexBuildOptions {
  MapMetric metric = MapMetric::Cosine;
  uint64_t seed = 0;              // training sample and calibration sample
  // nprobe calibration: the target is 0.9 plus a margin of 0.01 for the sampling error of the
  // calibration queries (reference cells), so that fresh queries stay >= 0.9.
  double target_recall = 0.91;
  int64_t calibration_queries = 512;
  int64_t calibration_k = 10;
  // Calibrate the recall of what scfm map runs: rerank_factor * k candidates from the index,
  // re-ranked with exact distances (rerank_exact). 0: the index's own top k.
  int64_t rerank_factor = kRerankFactor;
};

// k nearest neighbours of nq queries: ids (-1 where fewer than k were found) and distances in
// the units described above, ascending, row-major nq x k.
struct Neighbors {
  int64_t nq = 0, k = 0;
  std::vector<int64_t> ids;
  std::vector<float> distance;
};

class NeighborIndex {
 public:
  // Builds (and trains) an index on x (n x dim, row-major). Row i of x gets id i.
  static NeighborIndex build(const float* x, int64_t n, int64_t dim, const IndexPlan& plan,
                             const IndexBuildOptions& options);
  // Reads an index written by save(); throws scfm::Error naming the file when it is not a
  // faiss index, or when its width is not expected_dim, or its cell count is not expected_n
  // (-1: not checked), or its metric is not `metric`.
  static NeighborIndex load(const std::string& path, int64_t expected_dim, int64_t expected_n, MapMetric metric);
  // Writes the index to path.tmp.<pid> and renames it onto path.
  void save(const std::string& path) const;

  Neighbors search(const float* queries, int64_t nq, int64_t k) const;

  int64_t size() const;
  int64_t dim() const;
  MapMetric metric() const { return metric_; }
  MapIndexKind kind() const { return kind_; }
  int64_t nprobe() const;                // 0 for flat
  void set_nprobe(int64_t nprobe);       // ivfpq only
  int64_t code_bytes_per_cell() const;   // stored bytes per cell: 4 dim (flat), m (ivfpq codes)
  std::string description() const;
  double calibration_recall() const { return calibration_recall_; }  // -1 when not calibrated
  struct BuildStats {
    double train_seconds = 0, add_seconds = 0, calibrate_seconds = 0;
  };
  const BuildStats& build_stats() const { return stats_; }

 private:
  std::shared_ptr<faiss::Index> index_;
  MapMetric metric_ = MapMetric::Cosine;
  MapIndexKind kind_ = MapIndexKind::Flat;
  double calibration_recall_ = -1;
  BuildStats stats_;
};

// Exact k nearest neighbours by brute force (the reference for recall and for re-ranking).
Neighbors exact_neighbors(const float* ref, int64_t n, const float* queries, int64_t nq, int64_t dim, int64_t k,
                          MapMetric metric);
// Re-ranks candidate ids of each query by exact distance to ref, keeping the best k (threads:
// OpenMP's maximum).
Neighbors rerank_exact(const Neighbors& candidates, const float* ref, int64_t dim, const float* queries, int64_t k,
                       MapMetric metric);
// Mean over queries of |approx ∩ exact| / k (the "10-recall@10" of the faiss papers when k = 10).
double recall_at_k(const Neighbors& approx, const Neighbors& exact, int64_t k);

struct VoteResult {
  int32_t label = -1;  // class code; -1 when no neighbour was found
  float share = 0;
};
constexpr float kVoteEps = 1e-6f;
// One query's vote over its neighbours (ids into ref_codes, distances ascending or not); ids < 0
// are skipped. ref_codes[id] is the class code of reference cell id, in [0, n_classes).
VoteResult vote(const int64_t* ids, const float* distance, int64_t k, const std::vector<int32_t>& ref_codes,
                int32_t n_classes, MapVote rule);

struct MapOptions {
  std::string reference, query, output;
  std::string key = "X_scfm";            // obsm key in both files
  std::string label_col = "cell_type";   // obs column of the reference (and of the query, if present)
  int64_t k = 10;
  MapIndexKind index = MapIndexKind::Auto;
  MapVote vote = MapVote::Majority;
  MapMetric metric = MapMetric::Cosine;
  std::string save_index;                // write the index built here
  std::string index_file;                // load this index instead of building one
  std::string report_dir;                // "" = OUT without .h5ad + "_map/"
  uint64_t seed = 0;
};

// Maps the query onto the reference and writes OUT (a copy of the query with obs scfm_map_label,
// scfm_map_vote_share, scfm_map_distance and uns["scfm_map"]). When the query has label_col, a
// report (accuracy, macro-F1, confusion matrix) goes into the report folder. Returns a summary.
nlohmann::json map_cells(const MapOptions& options);

struct MapResult {
  std::vector<std::string> classes;  // the reference's labels, sorted
  std::vector<int32_t> label;        // per query cell: a code into classes (-1: no neighbour)
  std::vector<float> share, distance;  // obs scfm_map_vote_share, scfm_map_distance
  nlohmann::json settings;           // uns["scfm_map"]
  nlohmann::json summary;            // settings + sizes, timings, accuracy/macro_f1/metrics when labelled
};

// The mapping of embeddings in hand (ref.labels required, qry.labels optional; each .path names
// its data in messages and reports). The report is written only when options.report_dir is set;
// options.reference, query and output are not used.
MapResult map_embedded(const MapOptions& options, eval::Embedded reference, const eval::Embedded& query);

}  // namespace scfm::tasks
