// scfm perturb finetune / predict: scGPT's perturbation fine-tune (Tutorial_Perturbation) and its
// predictions for held-out perturbations, scored with GEARS's metrics beside the baselines
// (tasks/perturb_eval.h) in one table.
//
// finetune: the pretrained TransformerModel (a scGPT folder or an scfm run of structure scgpt)
// becomes scGPT's TransformerGenerator: encoder, value_encoder and transformer_encoder are copied
// from the checkpoint (the tutorial's load_param_prefixs), the pert_encoder and the
// AffineExprDecoder start fresh. Pairs as GEARS makes them (tasks/perturb_generator.h), training
// cells = the cells of the split's train conditions (control included). Loss: MSE over every
// token of the target (the tutorial's masked_mse_loss with every position "masked"). Adam (lr
// 1e-4), StepLR x 0.9 per epoch, gradient clipping 1.0, batch 64, 15 epochs; after each epoch the
// val conditions are predicted and the model with the best val pearson is kept (scGPT's choice).
// Writes out/model/ (best_model.pt, args.json with pert_flags, vocab.json), metrics.jsonl and
// the test report (results.json/md/csv, predictions.h5ad: predicted mean profile per condition).
//
// predict: the same report for a fine-tuned generator folder (--model) or for the baselines only.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::tasks {

struct PerturbFinetuneOptions {
  std::string model_dir;
  std::string input;     // prepared by `scfm perturb prepare`
  std::string out_dir;
  int64_t epochs = 15;
  int64_t batch_size = 64;
  double lr = 1e-4;
  double step_gamma = 0.9;
  double grad_clip = 1.0;
  int64_t max_seq_len = 1536;
  bool explicit_zero_prob = false;
  int64_t max_steps = 0;         // 0: every epoch; else stop after this many steps (tests)
  int64_t max_train_cells = 0;   // 0: all; else a keyed subset per epoch (tests, quick looks)
  uint64_t seed = 0;
  bool from_scratch = false;     // the same architecture, no pretrained weights (does pretraining help?)
};

nlohmann::json perturb_finetune(const PerturbFinetuneOptions& options);

struct PerturbPredictOptions {
  std::string model_dir;   // a folder written by perturb finetune; "" = baselines only
  std::string input;
  std::string out_dir;
  std::string set = "test";  // "test" | "val" | "train": the split's conditions to score
  int64_t batch_size = 64;
  int64_t max_seq_len = 1536;
  uint64_t seed = 0;
};

nlohmann::json perturb_predict(const PerturbPredictOptions& options);

}  // namespace scfm::tasks
