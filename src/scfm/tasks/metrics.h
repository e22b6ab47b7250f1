// scfm metrics: scib's integration metrics (eval/scib.h) for one or more embeddings of the same
// cells, with the field's two peers computed in the same run and scored in the same table:
//   PCA      the unintegrated classic pipeline: normalize_total + log1p, seurat-flavour HVGs,
//            50 principal components (tasks::pca_baseline, the classify baseline);
//   Harmony  pp::harmony on that PCA, batches from the batch column.
// The PCA is also the "before" of PCR_batch for every row. One row per method in results.md /
// results.csv; everything in results.json. Definitions and choices: docs/integrate.md.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "scfm/eval/dataset.h"
#include "scfm/eval/scib.h"
#include "scfm/io/row_source.h"
#include "scfm/pp/harmony.h"
#include "scfm/tasks/classify.h"

namespace scfm::tasks {

struct MetricsOptions {
  std::string input;                      // .h5ad: obsm[embeddings], obs[batch_col], obs[label_col]
  std::vector<std::string> embeddings;    // obsm keys to score (may be empty with baselines)
  std::string batch_col = "batch";
  // > 0: ignore batch_col and give each cell one of this many pseudo-batches at random (keyed by
  // the Leiden seed and the cell): a data set without batches as a check that a method keeps
  // biology when there is nothing to correct (all batch metrics should be near 1).
  int pseudo_batches = 0;
  std::string label_col = "cell_type";
  std::string out_dir;
  bool baselines = true;                  // PCA and Harmony rows (they read X: counts)
  PcaBaselineOptions pca;
  pp::HarmonyOptions harmony;
  eval::ScibOptions scib;
  // "" or a copy of the input with obsm X_pca / X_pca_harmony (scanpy's names; an existing X_pca
  // is replaced) and obs scfm_leiden_<key> (each method's best-NMI clustering)
  std::string write_h5ad;
};

// Checks the input first (missing columns, a single batch, cells without a label or batch:
// scfm::Error, nothing written), then scores every method and writes the report. Returns the
// results (what results.json holds) plus "seconds".
nlohmann::json integration_metrics(const MetricsOptions& options);

// The cells of integration_metrics in hand.
struct MetricsInput {
  std::string name;  // names the data in messages and the report (a file, or "adata")
  int64_t n = 0;
  struct Embedding {
    std::string key;
    std::vector<float> x;  // n x dim, row-major
    int64_t dim = 0;
  };
  std::vector<Embedding> embeddings;
  eval::Encoded batch, label;      // eval::required_codes of the columns (batch: unused with pseudo_batches)
  io::RowSource* counts = nullptr;  // the cells' counts, for the baselines
};

struct MetricsRun {
  nlohmann::json results;  // what results.json holds
  int64_t n = 0;
  struct Method {
    std::string name, key;        // key: obsm key (X_pca, X_pca_harmony for the baselines)
    std::vector<float> x;
    int64_t dim = 0;
    std::vector<std::string> clusters;  // the best-NMI Leiden clustering (obs scfm_leiden_<key>)
  };
  std::vector<Method> methods;  // in table order
};

// Scores `in` as integration_metrics does a file; the report is written only when options.out_dir
// is set (options.input, embeddings and write_h5ad are not used).
MetricsRun integration_metrics(const MetricsOptions& options, MetricsInput in);

}  // namespace scfm::tasks
