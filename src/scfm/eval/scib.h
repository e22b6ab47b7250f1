// scib's integration metrics (Luecken et al. 2022, scib 1.2), by scib's names and definitions,
// on one embedding with batch and label codes. Everything shares one neighbourhood graph
// (eval/neighbors.h, 15 neighbours as scib's sc.pp.neighbors) and one set of Leiden clusterings
// (resolutions 0.2, 0.4, ..., 2.0, scib's get_resolutions(10, max=2), seed 0).
//
// Bio conservation:
//   NMI_cluster/label   NMI (arithmetic) between the labels and the Leiden clustering of the
//                       resolution with the best NMI (scib's cluster_optimal_resolution)
//   ARI_cluster/label   ARI on that same clustering
//   ASW_label           (silhouette(embedding, labels) + 1) / 2
//   isolated_label_F1   labels present in the fewest batches; per such label the best F1 of
//                       "cluster c" vs "the label" over all clusters of all resolutions; mean
//   isolated_label_silhouette  per isolated label the mean label silhouette of its cells,
//                       (s + 1) / 2; mean
//   cLISI               (n_labels - median LISI of labels) / (n_labels - 1)
// Batch correction:
//   ASW_label/batch     per label (with 2..n-1 batches): 1 - |silhouette(cells, batches)| per
//                       cell, averaged per label, then over labels
//   PCR_batch           (R2_before - R2_after) / R2_before, clipped at 0, R2 = the variance share of
//                       the batch in the principal components (50, scib's pc_regression) of the
//                       unintegrated reference and of the embedding; 0 for the reference itself
//   graph_conn          per label the share of its cells in the largest connected component of
//                       the graph restricted to it; mean over labels
//   iLISI               (median LISI of batches - 1) / (n_batches - 1)
// Averages: avg_bio = mean of the six bio metrics, avg_batch = mean of the four batch metrics
// (scib's kBET is not computed; see docs/integrate.md), overall = 0.6 avg_bio + 0.4 avg_batch;
// NaN metrics (no isolated label, for instance) are left out of the means. scGPT's narrower
// averages are reported too: scgpt_avg_bio = mean(NMI, ARI, ASW_label),
// scgpt_avg_batch = mean(ASW_label/batch, graph_conn).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scfm/eval/neighbors.h"

namespace scfm::eval {

struct ScibOptions {
  int64_t n_neighbors = 15;                 // scanpy's default, the cell itself included
  std::vector<double> resolutions;          // empty: 0.2, 0.4, ..., 2.0
  uint64_t leiden_seed = 0;
  int64_t lisi_k0 = 90;
  int64_t pcr_comps = 50;
};

// The batch share of variance in the principal components of x (scib's pc_regression).
double pc_regression(const EmbeddingView& x, const std::vector<int32_t>& batch, int64_t n_comps = 50);

struct ScibResult {
  nlohmann::json metrics;          // scib's metric names -> value (NaN as null)
  nlohmann::json details;          // per-resolution NMI, isolated labels, cluster counts, timings
  std::vector<int32_t> clusters;   // the best-NMI Leiden clustering
};

// labels, batches: one code per row of x (0..n_labels-1, 0..n_batches-1; no missing codes).
// label_names / batch_names name the codes. pcr_before: pc_regression of the unintegrated
// reference (< 0: PCR_batch is not computed). Throws scfm::Error on sizes that disagree, fewer
// than 2 batches or 2 labels.
ScibResult scib_metrics(const EmbeddingView& x, const std::vector<int32_t>& labels,
                        const std::vector<std::string>& label_names, const std::vector<int32_t>& batches,
                        const std::vector<std::string>& batch_names, double pcr_before,
                        const ScibOptions& options = {});

// The metric names in report order: bio first, then batch, then the averages.
const std::vector<std::string>& scib_metric_names();

}  // namespace scfm::eval
