// The value encoders of scBenchmark (Linear(1, d), ReLU, Linear(d, d)) and of scGPT
// (ContinuousValueEncoder: the same, then LayerNorm and dropout) in O(N d) instead of O(N d^2).
//
// Each token brings one scalar x, so W2 relu(x w1 + b1) + b2 is a piecewise linear function of x:
// unit j is active on one side of its threshold -b1_j / w1_j, and between consecutive thresholds
// the output is x A + C, with A = W2 diag(w1) m and C = W2 diag(b1) m + b2 for that piece's 0/1
// activity vector m. There are at most d + 1 pieces, whatever the number of tokens. Forward sorts
// the batch's values once, finds each unit's threshold among them (the same float test,
// x * w1_j + b1_j > 0, as the plain layers' ReLU), builds A and C per piece (a (pieces x d) by
// (d x d) product in double) and writes x A + C per token. Backward needs, per piece, the sums of
// the output gradients g and of x g over its tokens (one pass over the gradient, accumulated in
// double): the weight and bias gradients follow from them by small products, with no N x d x d
// work. It was 6.4 of the 45 GFLOP of scBenchmark's linear_ours training step at batch 32
// (docs/bench_model.md).
//
// Values equal the plain layers' to float rounding (the per-piece sums are taken in double),
// and a token's output depends on its own value only (bitwise), not on its batch companions or
// the thread count; gradient sums run over tokens in value order at any thread count.
// Used on CPU float32 when x needs no gradient and everything is finite; otherwise (CUDA, other
// dtypes, x requiring grad, NaN or Inf) the plain layers run.
#pragma once

#include <ATen/core/Tensor.h>

namespace scfm::model {

// W2 relu(x w1^T + b1) + b2 for x of shape [..., 1]; w1: d x 1, b1: d, w2: d_out x d, b2: d_out.
// Returns [..., d_out].
at::Tensor scalar_relu_mlp(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                           const at::Tensor& b2);

}  // namespace scfm::model
