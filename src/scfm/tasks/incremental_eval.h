// Stage evaluation of gene-incremental learning: masked-expression MSE on held-out cells, per gene
// set, with the same masked (cell, gene) pairs whatever the input vocabulary, batch or threads.
//
// A cell's input: its values transformed as in pretraining (log1p(normalize_total(x, 1e4)) of the
// whole row, or bins), restricted to `input_genes`; with more than max_len - 1 of them, the
// max_len - 1 with the smallest key hash(seed, cell, gene) are kept; tokens in vocab-id order after
// <cls>. A token is masked when hash(seed, cell, gene, mask) < mask_ratio: a gene of a cell is
// masked at every stage or at none. The MSE of gene set k is over the masked tokens of genes in
// set k (set_of_token[id] == k).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/data/torch/loader.h"
#include "scfm/eval/report.h"
#include "scfm/model/pretrain_model.h"

namespace scfm::store {
class CellStore;
}

namespace scfm::tasks {

struct MaskedEvalOptions {
  int64_t max_len = 513;  // tokens including <cls>
  int32_t cls_id = -1, pad_id = -1;
  float cls_value = 0, pad_value = 0, mask_value = -1;
  double mask_ratio = 0.4;
  uint64_t seed = 0;
  bool pad_to_max_len = false;  // cnn/linear backbones need T = max_len
  int64_t batch_size = 64;
  std::string device = "cpu";
  data::ValueTransform transform;  // required
};

struct GeneSetErrors {
  std::vector<double> sse;
  std::vector<int64_t> n;
  double mse(size_t k) const { return n[k] > 0 ? sse[k] / static_cast<double>(n[k]) : NAN; }
};

// input_genes: sorted vocab ids the model may see; set_of_token: per vocab id its gene set
// (0..n_sets-1) or -1. The model is put in eval mode.
GeneSetErrors masked_mse_by_gene_set(model::PretrainModel& model, const store::CellStore& store,
                                     const std::vector<int64_t>& cells, const std::vector<int32_t>& input_genes,
                                     const std::vector<int32_t>& set_of_token, int n_sets, const MaskedEvalOptions& options);

// The report of run_incremental's results (see incremental.h): the stage x gene-set table, the
// forgetting table and forgetting.svg.
eval::Report incremental_report(const nlohmann::json& results);

}  // namespace scfm::tasks
