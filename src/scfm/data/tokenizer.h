// Tokenizing one cell: a sparse row (vocab ids, values) -> the model's tokens, <cls> first.
//
// Layout. The candidates of a cell are, in order: the row's non-zero genes (ids ascending, as
// the store holds them), or with a gene panel the panel's genes in panel order - only those
// non-zero in the cell, or all of them with include_zero_gene (value 0 where absent). With
// append_cls the tokens are <cls> (value cls_value) then the candidates; a cell with more tokens
// than max_len keeps <cls> and max_len - 1 candidates (max_len without <cls>), chosen by
// subsampling (below). Tokens never exceed max_len; padding is done per batch (batch.h).
//
// Subsampling (scGPT's pad_batch, scBenchmark's ExpressionDataset._preprocess):
//  - uniform (default): max_len - 1 distinct candidates, uniformly, kept in draw order (the
//    order np.random.choice returns them; scGPT keeps it, it does not sort).
//  - use_weighted_sampling (scBenchmark): a fair coin (uniform() < 0.5) picks between a draw
//    without replacement with weights x - min(x) + 1e-5 over the candidates' values (torch.multinomial,
//    replacement=False), and the uniform draw above.
//  - numpy_choice: the uniform draw consumes the stream exactly as numpy's legacy
//    np.random.choice(n, k, replace=False) (a full permutation), for replay of scGPT fixtures;
//    otherwise a partial Fisher-Yates (k draws) is used. Same distribution either way.
// What is promised: <cls> (when appended) is token 0; candidates are distinct (no gene twice);
// the result is a pure function of (row, options, the stream's outputs).
// What is not: which genes are kept is random, and differs between numpy_choice on and off.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/data/random.h"

namespace scfm::data {

struct TokenizerOptions {
  int64_t max_len = 1200;         // scGPT --max_seq_len: tokens per cell including <cls>
  bool append_cls = true;         // scGPT append_cls=True
  int32_t cls_id = -1;            // vocab["<cls>"]; required when append_cls
  int32_t pad_id = -1;            // vocab["<pad>"]; required
  float cls_value = 0.0f;         // 0 as scGPT's tokenizer and scBenchmark (its cls_value); pad_value as scGPT's embedding
  float pad_value = -2.0f;        // scGPT pad_value -2 (scBenchmark uses 0)
  bool include_zero_gene = false; // scGPT include_zero_gene; needs `genes`
  std::vector<int32_t> genes;     // gene panel (vocab ids, distinct); empty = the row's genes
  bool use_weighted_sampling = false;  // scBenchmark --use_weighted_sampling
  bool numpy_choice = false;      // replay numpy's legacy choice (see above)
};

// Checks the options (ids set, max_len >= 1 (>= 2 with <cls>), include_zero_gene has a panel,
// panel ids distinct); throws scfm::Error naming the field.
void validate(const TokenizerOptions& options);

struct TokenizedCell {
  std::vector<int32_t> genes;   // tokens, <= max_len, <cls> first when appended
  std::vector<float> values;
  int64_t n_candidates = 0;     // tokens before subsampling (including <cls>)
  // Subsampled cells: for each kept token its index into the tokens before subsampling
  // (0 = <cls>); empty when the cell was not subsampled.
  std::vector<int64_t> sampled_idx;
};

// Tokenizes the row (ids ascending, as store::CellRow) with draws from `rs`.
TokenizedCell tokenize_cell(const int32_t* ids, const float* values, int64_t n, const TokenizerOptions& options,
                            RandomStream& rs);

}  // namespace scfm::data
