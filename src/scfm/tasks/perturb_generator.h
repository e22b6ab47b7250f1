// scGPT's perturbation generator (TransformerGenerator: the TransformerModel with pert_encoder and
// AffineExprDecoder, model/scgpt/transformer_model.h with config.pert_flags) on a prepared file:
// the pieces `scfm perturb finetune` and `scfm perturb predict --method scgpt` share.
//
// Input of one perturbed cell i (GEARS's pairing): the log-normalised expression of a control
// cell c(i) for every gene of the file (scGPT's include_zero_gene "all"), each gene's token its
// vocabulary id (a gene missing from the vocabulary gets the pad id, as scGPT's tutorial maps it),
// flag 1 at the condition's perturbed genes and 0 elsewhere; the target is cell i's expression.
// c(i) is a control cell drawn keyed by (seed, epoch, i) among the controls of i's cell_type when
// obs has several cell types (GEARS's data are one cell line; pairing across types would make the
// target's type noise), else among all controls. Control cells are their own input (flags 0).
// When the file has more genes than max_seq_len, a cell's tokens are its perturbed genes plus a
// keyed sample of the rest (scGPT samples without keeping the perturbed genes, which can drop the
// only flag). The prediction of a condition is the mean over its cells of the predicted profiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "scfm/io/vocab.h"
#include "scfm/model/scgpt/transformer_model.h"
#include "scfm/tasks/perturb_data.h"

namespace scfm::tasks {

class GeneratorInput {
 public:
  // Throws FormatError(vocab file, ...) listing the perturbed genes missing from the vocabulary.
  GeneratorInput(const PerturbData& data, const io::Vocab& vocab, const std::string& vocab_source,
                 int64_t max_seq_len, uint64_t seed);

  struct Batch {
    at::Tensor genes, values, flags, target;  // (b, len): int64, float, int64, float
    at::Tensor positions;                     // (b, len) int64: gene index of each token
  };
  // The cells `cells` as the generator sees them in `epoch` (pairing and gene sample keyed by it).
  // condition: -1 = each cell's own; else the flags of this condition for every cell.
  Batch batch(const std::vector<int64_t>& cells, int64_t epoch, int32_t condition = -1) const;

  int64_t control_for(int64_t cell, int64_t epoch) const;
  int64_t n_not_in_vocab() const { return n_not_in_vocab_; }

  // The mean predicted profile (all genes; genes never among the tokens keep the control mean) of
  // condition `condition` for the cells `cells` (each predicted from its paired control, epoch 0).
  std::vector<double> predict_mean(model::scgpt::TransformerModelImpl& net, const std::vector<int64_t>& cells,
                                   int32_t condition, int64_t batch_size) const;

 private:
  const PerturbData& d_;
  std::vector<int64_t> gene_ids_;              // vocab id per gene
  std::vector<std::vector<int64_t>> perturbed_;  // per condition: gene indices
  std::vector<std::vector<int64_t>> controls_by_type_;
  std::vector<int32_t> type_of_;               // per cell: index into controls_by_type_
  int64_t max_seq_len_;
  uint64_t seed_;
  int64_t n_not_in_vocab_ = 0;
};

// The cells of `conditions` (names) in the order given.
std::vector<int64_t> cells_of_conditions(const PerturbData& data, const std::vector<std::string>& conditions);

}  // namespace scfm::tasks
