#include "scfm/data/batch.h"

#include <algorithm>

#include "scfm/util/error.h"

namespace scfm::data {

void validate(const BatchOptions& o) {
  validate(o.tokenizer);
  validate(o.mask);
}

namespace {

// Pads the tokenized cells into a batch (no masking yet: masked_values = values).
Batch collate(const std::vector<CellInput>& cells, std::vector<TokenizedCell>& tok, const BatchOptions& o) {
  Batch b;
  const int64_t n = static_cast<int64_t>(cells.size());
  int64_t longest = 0;
  for (const auto& t : tok) longest = std::max<int64_t>(longest, static_cast<int64_t>(t.genes.size()));
  const int64_t T = o.pad_to_max_len ? o.tokenizer.max_len : longest;
  b.seq_len = T;
  b.cells.resize(n);
  b.lengths.resize(n);
  const size_t total = static_cast<size_t>(n * T);
  b.genes.assign(total, o.tokenizer.pad_id);
  b.values.assign(total, o.tokenizer.pad_value);
  b.masked_values.assign(total, o.tokenizer.pad_value);
  b.mask_positions.assign(total, 0);
  b.key_padding_mask.assign(total, 1);
  b.sampled_idx.assign(total, -1);
  for (int64_t r = 0; r < n; ++r) {
    const TokenizedCell& t = tok[r];
    const int64_t len = static_cast<int64_t>(t.genes.size());
    b.cells[r] = cells[r].cell;
    b.lengths[r] = len;
    const size_t base = static_cast<size_t>(r * T);
    for (int64_t p = 0; p < len; ++p) {
      b.genes[base + p] = t.genes[p];
      b.values[base + p] = t.values[p];
      b.masked_values[base + p] = t.values[p];
      b.key_padding_mask[base + p] = 0;
    }
    for (size_t p = 0; p < t.sampled_idx.size(); ++p) b.sampled_idx[base + p] = t.sampled_idx[p];
  }
  return b;
}

void mask_row(Batch& b, int64_t r, const BatchOptions& o, RandomStream& rs) {
  const size_t base = static_cast<size_t>(r * b.seq_len);
  mask_cell(&b.values[base], b.lengths[r], o.tokenizer.append_cls, o.tokenizer.pad_value, o.mask, rs,
            &b.masked_values[base], &b.mask_positions[base]);
}

}  // namespace

Batch build_batch(const std::vector<CellInput>& cells, const BatchOptions& o, int64_t epoch) {
  std::vector<TokenizedCell> tok;
  tok.reserve(cells.size());
  for (const CellInput& c : cells) {
    KeyedRandom rs(o.seed, epoch, c.cell, RandomPurpose::subsample);
    tok.push_back(tokenize_cell(c.ids, c.values, c.n, o.tokenizer, rs));
  }
  Batch b = collate(cells, tok, o);
  if (o.mask_enabled) {
    for (int64_t r = 0; r < b.size(); ++r) {
      KeyedRandom rs(o.seed, epoch, b.cells[r], RandomPurpose::mask);
      mask_row(b, r, o, rs);
    }
  }
  return b;
}

Batch build_batch_replay(const std::vector<CellInput>& cells, const BatchOptions& o, RandomStream& rs) {
  std::vector<TokenizedCell> tok;
  tok.reserve(cells.size());
  for (const CellInput& c : cells) tok.push_back(tokenize_cell(c.ids, c.values, c.n, o.tokenizer, rs));
  Batch b = collate(cells, tok, o);
  if (o.mask_enabled) {
    for (int64_t r = 0; r < b.size(); ++r) mask_row(b, r, o, rs);
  }
  return b;
}

}  // namespace scfm::data
