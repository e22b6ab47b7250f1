// Dropout whose mask is a hash of (seed, element index) instead of a stream of Bernoulli draws.
//
// Why: on a CPU LibTorch 1.13 without MKL, at::dropout draws every element through
// at::bernoulli_ (one mt19937 call per element), which was a third of a scBenchmark transformer
// training step (profile in docs/bench_model.md), and saves its float mask for backward (as large
// as the attention scores: B x H x T x T). Here an element is kept when a 32-bit keyed hash of
// its index is >= p * 2^32: a vectorisable pass with no state, and backward regenerates the same
// mask from the seed, so nothing is saved. Masks are keyed per cell (below): they depend on
// neither the thread count nor, during pretraining, the batch a cell is in.
//
// Kept elements are scaled by 1 / (1 - p), as torch.nn.functional.dropout. CUDA tensors and
// non-float32 tensors go to at::dropout.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace scfm::model {

// Training-mode dropout (the identity when !train or p == 0). Row b of x (its first dimension)
// is cell key k_b: element i of that row is kept when dropout_keeps(dropout_row_seed(call seed,
// k_b), i, p). Under DropoutKeys the call seeds come from the step's seed and the keys are the
// batch's global cell indices, so a cell's mask depends on (seed, step, cell, which dropout in the
// forward), not on its batch companions, the batch size, the padded length (rows are B x T x E,
// indexed t * E + e) or the number of processes. Otherwise the call seed is one draw from
// LibTorch's default CPU generator and the keys are the row numbers 0..B-1.
at::Tensor dropout(const at::Tensor& x, double p, bool train);

// Set by the trainer around one forward (RAII, one per thread): `seed` is the step's seed,
// `cells` the B global cell indices of the batch rows. Dropout calls of that forward are
// numbered 1, 2, ... and seeded from (seed, call number), so micro-batches of one step and the
// ranks of one step see the same call seeds.
class DropoutKeys {
 public:
  DropoutKeys(uint64_t seed, const at::Tensor& cells);
  ~DropoutKeys();
  DropoutKeys(const DropoutKeys&) = delete;
  DropoutKeys& operator=(const DropoutKeys&) = delete;
};

// The next call seed (the keys' step seed and call number, or a generator draw) and the keys of
// the rows of a tensor with `rows` rows (the batch's cells when they number `rows`, else 0..rows-1):
// what dropout and the training attention use.
uint64_t draw_dropout_seed();
at::Tensor dropout_cell_keys(int64_t rows);

// The seed of one row (cell) of one dropout call, and the keep-test of element `index` of that row.
uint64_t dropout_row_seed(uint64_t call_seed, int64_t cell_key);
bool dropout_keeps(uint64_t row_seed, uint64_t index, double p);

// In place: x[i] *= keep(row_seed, offset + i) ? 1 / (1 - p) : 0 for i < n (float32, contiguous).
void apply_keyed_dropout(float* x, int64_t n, uint64_t row_seed, uint64_t offset, double p);

}  // namespace scfm::model
