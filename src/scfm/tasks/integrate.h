// scfm integrate: scGPT's batch-integration fine-tune (scGPT's Tutorial_Integration) on a scGPT
// checkpoint folder or an scfm run of structure scgpt, then scib's metrics (tasks/metrics.h) for
// the integrated embedding beside the zero-shot one, PCA and Harmony, in one table.
//
// The fine-tuned model is the pretrained TransformerModel with the tutorial's integration parts:
// batch labels as input (batch_encoder; the expression decoders read [cell, batch]), domain-
// specific batch norm (DSBN, one BatchNorm per batch), a domain-adversarial batch classifier
// behind gradient reversal (DAB), explicit zero probabilities, GEPC (the MVC head) and the elastic
// cell similarity loss (ECS, threshold 0.8). Weights are copied by name and shape from the
// checkpoint; what does not fit (the new parts, the decoders that now read 2 x embsize) starts
// fresh, and results.json lists every such key (scGPT's loader drops them silently).
//
// Data as the tutorial prepares it: normalize_total 1e4 + log1p to choose n_hvg (1,200)
// seurat_v3 highly variable genes per batch on the counts, then each cell's counts of those genes
// (in the vocabulary) binned per cell into n_bins (51) bins (or, for a checkpoint pretrained on
// log1p values, as scfm runs are by default, log1p(x * 1e4 / total) as in pretraining); every HVG
// is a token, zeros included (include_zero_gene), after <cls>. 40% of the gene tokens are masked per cell, keyed by (seed,
// epoch, cell). Loss = GEP (masked MSE) + zero-probability NLL + GEPC + its zero NLL + 10 ECS +
// dab_weight (1.0) x batch cross-entropy. Minibatches hold one batch each (per_seq_batch_sample:
// DSBN normalises a minibatch with its first cell's batch), in an order keyed by (seed, epoch).
// Adam (lr 1e-4), StepLR x 0.9 per epoch, gradient clipping 1.0. The cell embedding (<cls>,
// L2-normalised as scGPT's evaluation does) goes to obsm[key].
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "scfm/tasks/metrics.h"

namespace scfm::tasks {

struct IntegrateOptions {
  std::string model_dir;
  std::string input;          // .h5ad with raw counts in X (or layer)
  std::string batch_col = "batch";
  std::string label_col;      // "" : no metrics (labels are never used for training)
  std::string output;         // the integrated .h5ad
  std::string out_dir;        // model/, metrics.jsonl, results.*
  std::string key = "X_scfm_integrated";
  std::string zero_shot_key = "X_scfm";  // the pretrained model's embedding of the same tokens; "" = skip
  std::string gene_col, layer;
  int64_t n_hvg = 1200;
  int n_bins = 51;
  double mask_ratio = 0.4;
  int64_t epochs = 15;
  int64_t batch_size = 64;
  double lr = 1e-4;
  double step_gamma = 0.9;
  double grad_clip = 1.0;
  double ecs_threshold = 0.8;
  double ecs_weight = 10;
  double dab_weight = 1.0;
  bool dsbn = true, dab = true, ecs = true, gepc = true, explicit_zero_prob = true, batch_labels = true;
  int64_t max_steps = 0;      // 0: all epochs; else stop after this many optimiser steps (tests)
  uint64_t seed = 0;
  bool metrics = true;        // scib metrics at the end (needs label_col)
  MetricsOptions metric_options;  // input, embeddings, out_dir, columns are filled in
};

nlohmann::json integrate(const IntegrateOptions& options);

}  // namespace scfm::tasks
