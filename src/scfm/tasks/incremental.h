// Gene-incremental learning (scBenchmark's AAAI 2026 incremental_train.py), as `scfm incremental`.
//
// The store's genes are split into a base set and num_stages - 1 increments (data/gene_stages.h:
// keyed by the seed, or a user's file); the cells are split too (a keyed base_cells share for
// stage 0, the rest evenly over the later stages; a keyed eval share is held out of every stage).
// Stage 0 trains the model on the base genes (its cells' other genes are dropped from their
// rows, as the original's tmp_vocab_idx filter); stage s trains on stage s's visible genes,
// starting from stage s - 1's weights, with a fresh Adam (the original) or the previous stage's
// moments (--optimizer carry); warm-up in stage 0 only, as the original. --freeze old-genes holds
// the gene-embedding rows of genes of earlier stages fixed (an scfm option; the original freezes
// nothing).
//
// In the same run, as baselines (unless disabled):
//   naive   from the same stage 0, each later stage trains on its new genes only (incre_only
//           visibility, fresh Adam, nothing frozen): the fine-tune that forgets;
//   joint   one stage on all genes and all training cells (the same epochs, so about the same
//           number of steps as all stages together): "train once".
// After every stage each method is evaluated on the held-out cells: input = the genes seen so
// far (the union of the stages' visible sets up to s), a keyed 40% of them masked per (cell,
// gene) - the same positions at every stage, so numbers are comparable across stages -, and the
// masked MSE reported per gene set (the base, each increment). The joint model is evaluated on
// every stage's input (the reference row). Forgetting of a gene set = its MSE after the last stage
// minus its MSE after the stage that introduced it.
//
// Files in OUT:
//   stages.json                  the split (genes per stage by name and id, cells per stage),
//                                the importance lists, the options
//   <method>/stage{s}/           a pretrain run folder per stage (args.json, vocab.json,
//                                train_state.pt, metrics.jsonl, best_model.pt): exact resume
//                                within a stage
//   <method>/model-stage{s}.pt   the weights after stage s (the original's name); its presence
//                                marks the stage done
//   <method>/eval-stage{s}.json  the stage evaluation
//   results.json/.md/.csv, forgetting.svg   the stage x gene-set table and plot
// A killed run continues with --resume: done stages are skipped, a stage in progress resumes from
// its train_state.pt, and the result equals an uninterrupted run's.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "scfm/data/gene_stages.h"
#include "scfm/train/trainer.h"

namespace scfm::tasks {

struct IncrementalOptions {
  std::string model_dir;    // args.json (architecture); with skip_stage0 also its weights
  std::string store;        // the cell store (its vocab.json is the model's vocabulary)
  std::string out_dir;
  data::GeneStagesOptions stages;  // num_stages, base_ratio, incre_only, keep_base_id, seed
  std::string stages_file;  // JSON list of gene-name lists, the base first (instead of the keyed split)
  double base_cells = 0.5;  // scBenchmark --base_ratio_dataset: share of the training cells in stage 0
  double eval_ratio = 0.1;  // cells held out of every stage (evaluation and validation)
  int64_t max_eval_cells = 2000;
  double eval_mask_ratio = 0.4;  // scBenchmark --eval_mask_ratio
  std::string optimizer = "fresh";  // fresh (the original) | carry
  bool freeze_old_genes = false;
  bool skip_stage0 = false;  // the model folder's weights are stage 0 (the original's --load_dir --skip_stage0)
  bool baselines = true;
  // Importance (held out of the base, handed to the increments): the F statistic of each gene
  // across importance_label within each importance_group (data/gene_importance.h), then the
  // original's rank rules. Empty label: none held out.
  std::string importance_label, importance_group;
  int64_t importance_top = 200, keep_rank1 = 20, keep_rank2 = 100;  // --select_idxnum, --keep_rank1/2
  int64_t importance_cells = 20000;  // cells per group used for the statistic (keyed sample)
  bool resume = false;
  // Per-stage training (epochs, batch, lr, warm-up for stage 0, masking, seed, threads, ...).
  // out_dir, train/valid cells, the gene panel and the hooks are set per stage.
  train::PretrainOptions train;
};

// Runs the stages (and baselines) and writes the files above; returns results.json's content.
// Throws scfm::Error on bad options, a store/model vocabulary mismatch, a non-empty OUT without
// resume, or unknown genes in stages_file (all listed in one message).
nlohmann::json run_incremental(const IncrementalOptions& options);

}  // namespace scfm::tasks
