// Masked-expression pretraining on one process or many, with exact resume.
//
// Each optimiser step takes one global batch of `batch_size` cells: with N ranks each rank
// tokenizes batch_size / N of them (DistributedSampler's split), the loss is the masked squared
// error summed over all ranks' masked positions divided by their global count, and gradients
// are summed across ranks - so N processes compute the same update as one process with the same
// global batch (up to float summation order; exactly the same cells and masks, because
// tokenizing and masking are keyed by (seed, epoch, cell)). Dropout draws from each rank's torch
// generator, so that equality holds with dropout 0.
//
// Files (rank 0 writes; every write is a temp file renamed into place):
//   RUN/args.json, RUN/vocab.json           the configuration and vocabulary (scGPT folder layout)
//   RUN/model-ep{N}.pt, RUN/best_model.pt   torch.save state dicts (best by validation MSE)
//   RUN/train_state.pt                      weights + Adam moments + schedule position + RNG +
//                                           (epoch, batch) position: `resume` continues from it
//   RUN/metrics.jsonl                       a line per log interval and per validation (a fresh run
//                                           starts it anew; --resume cuts it back to the checkpoint)
// A run killed at any moment and resumed ends with the same weights as an uninterrupted run
// (CPU, same thread count): train_state.pt is written every `checkpoint_every` steps and at
// each epoch end, and resume replays from exactly that step.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "scfm/data/batch.h"
#include "scfm/data/torch/loader.h"
#include "scfm/model/pretrain_model.h"
#include "scfm/train/schedule.h"

namespace scfm::io {
class Vocab;
}
namespace scfm::store {
class CellStore;
}

namespace scfm::train {

class Distributed;

struct PretrainOptions {
  std::string out_dir;
  int64_t epochs = 10;             // --epochs
  int64_t batch_size = 128;        // --batch-size, global over all ranks
  // --grad-accu-steps k (scGPT's meaning): each optimiser step accumulates the gradients of k
  // micro-batches of batch_size cells, so the step sees k * batch_size cells while memory holds
  // one micro-batch. The loss is normalised by the masked count of all k, so the update equals
  // one step on the k * batch_size cells (up to float summation order).
  int64_t grad_accu_steps = 1;
  ScheduleOptions schedule;        // --lr, --warmup-iters, --scheduler
  double grad_clip = 0;            // --grad-clip (0 = none, as scBenchmark; scGPT uses 1.0)
  bool use_mvc = false;            // --use-mvc: add the MVC head's masked MSE
  bool zero_prob_loss = false;     // scGPT explicit_zero_prob: add the Bernoulli NLL
  int64_t log_interval = 500;      // --log-interval (steps)
  int64_t save_interval = 1;       // --save-interval (epochs)
  uint64_t seed = 0;               // --seed
  data::BatchOptions batch;        // tokenizer + masking (max_len = --train-maxseq)
  int loader_threads = 2;
  // none: log1p(normalize_total(counts, 1e4)); bin: + binning. Steps the store's manifest says
  // were done at ingest are not repeated (pretrain_value_transform).
  std::string preprocess_mode = "none";
  int64_t n_bins = 51;             // --n-bins (bin mode)
  double valid_ratio = 0.1;        // --valid-ratio when no validation store is given
  int64_t max_steps = -1;          // stop after this many optimiser steps (smoke runs, tests)
  int64_t checkpoint_every = 0;    // steps between train_state.pt saves (0: epoch ends only)
  bool resume = false;             // --resume
  bool progress = true;            // a progress bar when stderr is a terminal
  std::string device = "cpu";      // --device cpu | cuda | cuda:N (the model and batches live there)
  bool amp = false;                // --amp: bf16 autocast on CUDA (losses and optimiser in float32)
  // Cells of the training store to train and to validate on (global indices, ascending); both empty:
  // the valid_ratio split (or all of train with a validation store). Gene-incremental stages train
  // on their share of the cells; batch.tokenizer.genes restricts the genes a stage sees.
  std::vector<int64_t> train_cells, valid_cells;
  // A train_state.pt of another run whose Adam moments seed the optimiser when this run has no
  // train_state.pt of its own (a stage that carries the previous stage's optimiser); its weights and
  // position are not taken.
  std::string init_optimizer_state;
  // Called on every rank after the gradients are complete and before the optimiser step, and after
  // the step (e.g. to hold some embedding rows fixed). Not called in validation.
  std::function<void()> before_step, after_step;
  // --on-nonfinite: a step whose loss or (applied) gradient holds NaN/Inf is reported with the step
  // and the parameter, in stderr and metrics.jsonl ({"kind": "nonfinite"}); "stop" (default) ends
  // the run with an error and writes nothing more (train_state.pt stays the last good checkpoint),
  // "skip" drops that step's update and goes on.
  std::string on_nonfinite = "stop";
};

struct PretrainResult {
  int64_t steps = 0;
  int64_t skipped_steps = 0;       // steps dropped by on_nonfinite "skip"
  nlohmann::json last_validation;  // EvalAccumulator::result() of the last epoch
};

// The transform pretraining applies to a cell's values read from `store`: log1p(normalize_total(x,
// 1e4)), then scGPT's binning keyed by (seed, epoch, cell) with preprocess_mode "bin"; steps the
// store declares done at ingest (manifest "values") are skipped, so the result is the same (to
// float rounding) for a raw store and one ingested with --normalize-total 1e4 --log1p. A binned
// store is used as binned and needs preprocess_mode "bin" with the same n_bins. Throws
// scfm::Error naming the store and the manifest field for a store whose values cannot give it.
data::ValueTransform pretrain_value_transform(const PretrainOptions& options, const store::CellStore& store);

// Trains `model` in place. `valid` may be null: then a seeded `valid_ratio` split of `train`
// validates. `dist` may be null (one process).
PretrainResult pretrain(model::PretrainModel& model, const store::CellStore& train, const store::CellStore* valid,
                        const io::Vocab& vocab, const PretrainOptions& options, Distributed* dist = nullptr);

}  // namespace scfm::train
