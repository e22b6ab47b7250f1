// scfm perturb predict --method scbench: scBenchmark's two-stage perturbation prediction
// (downstreams_perturbe_pred.py with models_utils/model_perturb.py) on a frozen scBenchmark model.
//
// The model reads a cell's gene identities only (its expressed genes, at most max_genes of them
// drawn with weights expression - min + 1e-5, scBenchmark's use_weighted_sampling; values are not
// embedded) and predicts each gene's value with its MVC head (<gene query, cell embedding>). A
// learned vector added to the <cls> token's gene embedding moves the cell embedding:
//   stage 1  base offset b (scBenchmark's embedding_base, Linear(1, d) without bias), fitted on
//            the control cells: MSE of the MVC output against the cell's own values;
//   stage 2  perturbation offset p(A) = W emb(A) + c + o (perturb_trans: Linear(d, d) on the
//            perturbed gene's embedding, plus a learned vector o), b frozen, fitted on the
//            training conditions' perturbed cells. A combination adds W emb(A) + c and
//            W emb(B) + c (scBenchmark has singles only), o once.
// Adam lr 0.005, batch 128, 50 + 50 epochs (scBenchmark's constants; the epochs are flags).
// Reported as scBenchmark reports it, on the held-out conditions' cells (their own genes):
//   mse_no_offset (its random_s1), mse_base (random_s2), mse_final (final_loss); the MSE is over
//   the gene tokens (pads excluded; the original also counts pads against 0).
// And as a prediction in GEARS's sense, in the same table as the generator and the baselines:
// each held-out cell's profile is predicted from its paired control cell's genes (the pairing of
// tasks/perturb_generator.h) with b + p(condition): the MVC head's values for the control's
// tokens (its expressed genes, the only genes the method is fitted on), the control's values for
// every other gene; mean over the cells.
// scBenchmark's own default evaluates held-out cells of perturbations seen in training and gives
// each cell its own genes as input, which already carry the perturbation; the GEARS split and the
// control input here make it a prediction of unseen perturbations.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace scfm::tasks {

struct PerturbScbenchOptions {
  std::string model_dir;   // an scfm run or scBenchmark checkpoint of structure transformer, gnn_cp, cnn_*, linear_*
  std::string input;       // prepared by `scfm perturb prepare`
  std::string out_dir;
  int64_t max_genes = 512;  // scBenchmark's test_maxseq (cnn/linear models: their train_maxseq)
  int64_t batch_size = 128;
  double lr = 0.005;
  int64_t base_epochs = 50, offset_epochs = 50;
  int64_t max_train_cells = 0;  // 0: all; else a keyed subset per epoch
  int64_t max_seq_len = 1536;   // the pairing's GeneratorInput setting (unused for tokens here)
  uint64_t seed = 0;
};

nlohmann::json perturb_scbench(const PerturbScbenchOptions& options);

}  // namespace scfm::tasks
