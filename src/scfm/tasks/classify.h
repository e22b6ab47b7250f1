// scfm classify: how well an embedding separates known cell labels, by scBenchmark's protocol
// (downstreams_cls.py), with an honest epoch choice beside the original's optimistic one and a
// classic-pipeline baseline (PCA of log-normalised expression) in the same run.
//
// Per trial t (seed t, t = 0..trials-1): the labelled cells are split train/test by
// eval::random_split(seed t); on the same split
//   kNN      k = 10, Euclidean, uniform vote (sklearn's KNeighborsClassifier defaults);
//   linear   one nn.Linear(dim, n_classes) on the raw embedding, cross-entropy, Adam (lr 0.005),
//            batch 64 (shuffled per epoch), 50 epochs, evaluated every 5 epochs. Reported three
//            ways: best test accuracy over the evaluations (scBenchmark's number: the epoch is
//            chosen on the test split, so it is optimistic), the test accuracy at the epoch
//            chosen on a validation part (10 %) of the training split (a second probe trained on
//            the other 90 %; ties: the later epoch), and the test accuracy after the last epoch
//            (the first probe).
// The same classifiers run on the baseline representation unless disabled. Everything is
// keyed by the seeds: the same inputs, options and thread count give a bitwise identical
// results.json. Definitions and differences from the original: docs/classify.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/eval/dataset.h"
#include "scfm/io/row_source.h"

namespace scfm::tasks {

// A row-major float matrix: rows x cols.
struct DenseMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;

  const float* row(int64_t r) const { return data.data() + r * cols; }
  // The rows `index` of this matrix, in that order.
  DenseMatrix gather(const std::vector<int64_t>& index) const;
};

struct KnnOptions {
  int k = 10;
  // query rows per distance block (memory: block_rows x n_train floats, capped at 256 MiB)
  int64_t block_rows = 1024;
};

// Exact brute-force k-nearest-neighbour classification, as sklearn's KNeighborsClassifier with
// its defaults (Euclidean distance, uniform weights). For each query row: the k training rows
// at the smallest Euclidean distance (distances among the candidates are computed exactly in
// double; equal distances: the lower training row first), then a majority vote of their codes;
// a tie in the vote goes to the lowest class code (sklearn's choice: the first of its sorted
// classes). With fewer than k training rows, all of them vote.
//   train_codes: one code in [0, n_classes) per training row.
//   exclude:     empty, or one training row per query row that it must not use (-1: none); for
//                leave-one-out predictions of the training rows themselves.
// Throws scfm::Error on sizes that disagree, k < 1, no training rows or codes out of range.
std::vector<int32_t> knn_classify(const DenseMatrix& train, const std::vector<int32_t>& train_codes,
                                  const DenseMatrix& query, int32_t n_classes, const KnnOptions& options = {},
                                  const std::vector<int64_t>& exclude = {});

struct LinearProbeOptions {
  double lr = 0.005;        // Adam, PyTorch's defaults otherwise (betas 0.9/0.999, eps 1e-8)
  int64_t batch_size = 64;  // the last batch of an epoch may be smaller (drop_last=False)
  int epochs = 50;
  int eval_every = 5;       // evaluated after epochs eval_every, 2*eval_every, ... and the last
  uint64_t seed = 0;        // initialisation (a seeded generator) and the batch order
};

struct LinearProbeRun {
  std::vector<int> epochs;  // the epochs after which the eval sets were predicted
  // predictions[e][s]: codes predicted for eval set s after epochs[e]
  std::vector<std::vector<std::vector<int32_t>>> predictions;
  std::vector<double> train_loss;  // mean loss over the batches, per epoch
};

// Trains a linear layer (nn.Linear(cols, n_classes): weight and bias uniform in
// +-1/sqrt(cols), as PyTorch's default initialisation) on `train` with cross-entropy and Adam, the
// batches a permutation of the training rows keyed by (seed, epoch); predicts each eval set
// (argmax of the logits, first index on ties) at every evaluation epoch. No input normalisation.
// Runs on one LibTorch/OpenBLAS thread (restored after): results do not depend on --threads, and
// given the same generator seed and batch order PyTorch's own modules give the same losses.
LinearProbeRun linear_probe(const DenseMatrix& train, const std::vector<int32_t>& train_codes, int32_t n_classes,
                            const std::vector<const DenseMatrix*>& eval_sets, const LinearProbeOptions& options = {});

struct PcaBaselineOptions {
  std::string layer;          // "" = X; counts expected
  double target_sum = 1e4;    // normalize_total
  int64_t n_top_genes = 2000; // seurat-flavour highly variable genes, when there are more genes
  int64_t n_comps = 50;
  int64_t block_cells = 4096;
};

struct PcaBaseline {
  DenseMatrix scores;              // n_cells x n_comps
  int64_t n_genes = 0, n_genes_used = 0;
  std::vector<double> variance_ratio;  // explained variance ratio per component
};

// The classic pipeline: normalize_total(target_sum) and log1p per cell, the top n_top_genes
// highly variable genes (scanpy's flavor "seurat") when there are more genes, centring, PCA by
// the eigendecomposition (LibTorch eigh, double) of the covariance of the genes. The sign of each
// component makes its largest-magnitude loading positive. Labels are not used. Memory: the
// log-normalised non-zeros and the genes x genes covariance; no dense cells x genes matrix.
PcaBaseline pca_baseline(const std::string& h5ad_path, const PcaBaselineOptions& options = {});
// The same on cells in hand (options.layer is not used; `name` names them in messages).
PcaBaseline pca_baseline(io::RowSource& cells, const std::string& name, const PcaBaselineOptions& options = {});

struct ClassifyOptions {
  std::string input;                    // .h5ad with obsm[embedding] and obs[label_col]
  std::string embedding = "X_scfm";     // obsm key
  std::string label_col = "cell_type";  // obs column
  std::string out_dir;                  // results.json/md/csv and SVGs
  int trials = 5;
  double train_ratio = 0.7;
  double valid_ratio = 0.1;             // share of the training part that chooses the probe's epoch
  KnnOptions knn;
  LinearProbeOptions linear;            // seed is set per trial
  // Standardise the probe's inputs per dimension on its training cells (the default: a probe
  // with scBenchmark's lr and epochs cannot read an embedding whose spread is small next to its
  // offset). false = scBenchmark's exact protocol, the raw embedding (--probe-input raw).
  // kNN is never standardised.
  bool standardize = true;
  bool baseline = true;
  PcaBaselineOptions pca;
  std::string write_obs;                // "" or an .h5ad: a copy of the input with obs scfm_knn_pred
};

// Runs the protocol, writes the report into out_dir (and the --write-obs copy); returns the
// results (what results.json holds) plus "seconds".
nlohmann::json classify(const ClassifyOptions& options);

struct ClassifyRun {
  nlohmann::json results;              // what results.json holds
  // with predict_cells: per cell, the kNN label from the trial-0 training cells (those cells
  // predicted leave-one-out) and its role there: train | test | unlabelled (--write-obs's columns)
  std::vector<std::string> knn_pred, knn_split;
};

// The protocol on an embedding in hand (emb.labels: the labels, "" or NaN-read cells unlabelled;
// emb.path names it in messages). `counts` gives the same cells' counts for the PCA baseline (may be
// null when options.baseline is false). The report is written only when options.out_dir is set;
// options.input and write_obs are not used.
ClassifyRun classify_embedded(const ClassifyOptions& options, const eval::Embedded& emb, io::RowSource* counts,
                              bool predict_cells);

}  // namespace scfm::tasks
