// Dropout whose mask is a hash of (seed, element index) instead of a stream of Bernoulli draws.
//
// Why: on a CPU LibTorch 1.13 without MKL, at::dropout draws every element through
// at::bernoulli_ (one mt19937 call per element), which was a third of a scBenchmark transformer
// training step (profile in docs/bench_model.md), and saves its float mask for backward (as large
// as the attention scores: B x H x T x T). Here an element is kept when a 32-bit keyed hash of
// its index is >= p * 2^32: a vectorisable pass with no state, and backward regenerates the same
// mask from the seed, so nothing is saved. The seed is one draw from LibTorch's default CPU
// generator per call, so at::manual_seed (and train_state.pt's RNG) still decide every mask, and
// the mask does not depend on the thread count.
//
// Kept elements are scaled by 1 / (1 - p), as torch.nn.functional.dropout. CUDA tensors and
// non-float32 tensors go to at::dropout.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace scfm::model {

// Training-mode dropout (the identity when !train or p == 0).
at::Tensor dropout(const at::Tensor& x, double p, bool train);

// The keep-test of element `index` for (seed, p): what dropout and the fused attention use.
// Exposed for tests.
bool dropout_keeps(uint64_t seed, uint64_t index, double p);

// In place: x[i] *= keep(seed, offset + i) ? scale : 0 for i < n (float32, contiguous).
void apply_keyed_dropout(float* x, int64_t n, uint64_t seed, uint64_t offset, double p);

// One draw from LibTorch's default CPU generator (under its lock): the seed of one dropout call.
uint64_t draw_dropout_seed();

}  // namespace scfm::model
