// Model inputs for whole cells, as embed and finetune-annotate build them from an .h5ad.
//
// A cell's tokens are its non-zero genes that are in the vocabulary (genes mapping to one vocab
// id are summed), valued the way the model was trained: log1p(x * 1e4 / total) for scBenchmark
// and scfm runs, per-cell bins of the counts for binned models (scGPT's category input), binned
// by the deterministic rule unless `sample` asks for scGPT's random ties. When a cell has more
// than max_len - 1 genes, the highest-valued are kept (ties: lower vocab id first), or, with
// `sample`, a uniform subset keyed by (seed, cell). Kept genes are sent in vocab-id order after
// `<cls>` (valued conv.cls_value); batches are right-padded to their longest cell.
// The tokens of a cell depend on nothing but the cell (and the seed), never on its batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/sparse.h"
#include "scfm/model/factory.h"

#include "scfm/io/vocab.h"

namespace scfm::tasks {

struct CellTokens {
  at::Tensor genes;    // int64 B x T
  at::Tensor values;   // float32 B x T
  at::Tensor padding;  // bool B x T, true at pads
};

class CellInput {
 public:
  // var_to_id: vocab id of each column of the matrices given to tokens() (-1: not in the vocab).
  CellInput(const io::Vocab& vocab, const model::InputConventions& conv, std::vector<int32_t> var_to_id,
            int64_t max_len, bool sample, uint64_t seed);
  // Tokens of the rows `rows` of `block`; cells[i] is row rows[i]'s global cell index (the key of
  // any randomness).
  CellTokens tokens(const io::CsrMatrix& block, const std::vector<int64_t>& rows,
                    const std::vector<int64_t>& cells) const;
  // Every cell gets the same tokens, as scGPT's attention-GRN tutorial feeds its genes: <cls>, then
  // the vocab ids `panel` in that order, zeros included, no padding. Values as tokens() computes
  // them: log1p(x * 1e4 / total) with the total over all of the cell's matched genes (a gene
  // absent from the cell: 0), or bins of the panel's counts (0 stays bin 0). No gene sampling; the
  // panel may be longer than max_len().
  CellTokens panel_tokens(const io::CsrMatrix& block, const std::vector<int64_t>& rows, const std::vector<int64_t>& cells,
                          const std::vector<int32_t>& panel) const;
  int64_t max_len() const { return max_len_; }

 private:
  int64_t pad_id_, cls_id_, n_vocab_;
  model::InputConventions conv_;
  std::vector<int32_t> var_to_id_;
  int64_t max_len_;
  bool sample_;
  uint64_t seed_;
};

// io::match_genes of `data` (read from `path`) against the model's vocabulary, refusing a file none
// of whose genes the model knows with one line that names the verb and points at --gene-col.
io::GeneMatch match_model_genes(const io::Vocab& vocab, const io::AnnData& data, const std::string& gene_col,
                                const std::string& path, const char* verb);
// The same for gene names in hand (`path` names their source in the message).
io::GeneMatch match_model_genes(const io::Vocab& vocab, const std::vector<std::string>& genes, const std::string& path,
                                const char* verb);

}  // namespace scfm::tasks
