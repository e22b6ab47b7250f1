// A padded batch of tokenized, masked cells, without LibTorch (loader.h turns it into tensors).
//
// Layout: every array is row-major B x T (`x[b * T + t]`), B = cells.size(), T = seq_len.
// Row b holds cell cells[b]'s tokens at [0, len_b) and pads at [len_b, T): gene pad_id, value and
// masked value pad_value, key_padding_mask 1 (scGPT's src_key_padding_mask = genes == pad_id),
// mask_positions 0 (pads are never masked). sampled_idx row b is the tokenizer's sampled_idx padded
// with -1, or all -1 when the cell was not subsampled (the fixture's layout).
// T = max_len with pad_to_max_len (scBenchmark), otherwise the longest cell of the batch
// (scGPT's pad_batch: min(longest, max_len)), so T may vary between batches.
//
// Randomness:
//  - build_batch (the product): cell c's draws come from KeyedRandom(seed, epoch, c, subsample)
//    and KeyedRandom(seed, epoch, c, mask). A cell's tokens, values and mask are the same in any
//    batch, at any position, with any thread count, batch size or world size.
//  - build_batch_replay: one stream for the batch, consumed as scGPT does: tokenize and subsample
//    every row in order (tokenize_and_pad_batch), then mask every row in order
//    (random_mask_value). With NumpyRandomState(0), numpy_choice and mask_cls this reproduces
//    scGPT's outputs exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "scfm/data/masking.h"
#include "scfm/data/random.h"
#include "scfm/data/tokenizer.h"

namespace scfm::data {

// One cell's row as the tokenizer reads it (store::CellRow plus its global index).
struct CellInput {
  int64_t cell = 0;  // global cell index: the key of its randomness
  const int32_t* ids = nullptr;
  const float* values = nullptr;
  int64_t n = 0;
};

struct BatchOptions {
  TokenizerOptions tokenizer;
  MaskOptions mask;
  bool mask_enabled = true;     // false: masked_values = values, mask_positions all 0
  bool pad_to_max_len = false;  // true: T = max_len (scBenchmark); false: longest in batch (scGPT)
  uint64_t seed = 0;            // the run's seed (keyed randomness)
};

struct Batch {
  int64_t seq_len = 0;
  std::vector<int64_t> cells;         // B global cell indices, in input order
  std::vector<int64_t> lengths;       // B real token counts
  std::vector<int64_t> genes;         // B x T vocab ids
  std::vector<float> values;          // B x T
  std::vector<float> masked_values;   // B x T
  std::vector<uint8_t> mask_positions;    // B x T, 1 = masked
  std::vector<uint8_t> key_padding_mask;  // B x T, 1 = pad
  std::vector<int64_t> sampled_idx;   // B x T, -1 where none
  int64_t size() const { return static_cast<int64_t>(cells.size()); }
};

// Validates options; throws scfm::Error naming the field.
void validate(const BatchOptions& options);

Batch build_batch(const std::vector<CellInput>& cells, const BatchOptions& options, int64_t epoch);
Batch build_batch_replay(const std::vector<CellInput>& cells, const BatchOptions& options, RandomStream& rs);

}  // namespace scfm::data
