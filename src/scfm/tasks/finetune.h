// scfm finetune-annotate: scGPT's cell-type annotation fine-tuning on any pretrained scfm run or
// scGPT checkpoint folder.
//
// A classification head with scGPT's ClsDecoder layout (`cls_decoder._decoder.{0,2,3,5}`,
// `cls_decoder.out_layer`: n_layers_cls - 1 blocks of Linear + ReLU + LayerNorm, then a Linear to
// the classes) reads the model's cell embedding; cross-entropy, Adam (lr 1e-4), StepLR (x0.9 per
// epoch), gradient clipping at 1.0, as scGPT's annotation tutorial. `freeze` trains the head alone.
//
// Cells: with a query file, the whole labelled input trains (minus a seeded validation tenth)
// and the query is predicted; without one, the input is split by eval::random_split (seed,
// train_ratio) into train and test, and a seeded tenth of the training part validates. The
// epoch with the lowest validation loss is kept (scGPT's best_model). Tokens are those of
// `scfm embed` (tasks/cell_input.h): deterministic, the highest-expressed genes up to max_length.
// Batches are shuffled by a permutation keyed by (seed, epoch); dropout draws from LibTorch's
// generator seeded once with `seed`, so a run is reproducible on one thread count.
//
// Outputs in out_dir: model/ (a checkpoint folder: args.json with n_cls and cls_classes,
// vocab.json, best_model.pt with the fine-tuned encoder; for scGPT models the head is inside it as
// scGPT keeps it; for scBenchmark models it is in cls_head.pt), results.json/md/csv,
// confusion.svg, and `annotated.h5ad` (the predicted file with obs scfm_pred, scfm_pred_prob,
// scfm_split, obsm scfm_pred_probs and uns scfm_finetune).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace scfm::tasks {

struct FinetuneOptions {
  std::string model_dir;
  std::string input;            // labelled .h5ad (raw counts in X or layer)
  std::string query;            // optional: cells to annotate (labels, if present, are scored)
  std::string label_col = "cell_type";
  std::string out_dir;
  std::string annotated;        // output .h5ad ("" = out_dir/annotated.h5ad)
  std::string gene_col, layer;
  int64_t epochs = 10;
  int64_t batch_size = 32;
  double lr = 1e-4;
  double step_gamma = 0.9;       // StepLR gamma, one step per epoch
  double grad_clip = 1.0;
  double train_ratio = 0.7;      // without a query
  double valid_ratio = 0.1;      // of the training part
  int64_t n_layers_cls = 3;
  int64_t max_length = 1200;
  bool freeze = false;           // train the head only
  uint64_t seed = 0;
  bool allow_partial = false;
};

nlohmann::json finetune_annotate(const FinetuneOptions& options);

}  // namespace scfm::tasks
