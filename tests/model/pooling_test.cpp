// The direct pooling kernels of linear_ours (scbench::pool_tokens against LibTorch's
// adaptive_avg_pool1d as the original calls it: both memory layouts a block hands over, uniform
// and non-uniform windows) and cnn_* (scbench::max_pool_pairs against max_pool1d: ties and NaN),
// values and input gradients. (linear_ours' reordered channel/token mixing is checked against
// PyTorch's own gradients in grad_parity_test.cpp.)
#include <gtest/gtest.h>

#include <ATen/ops/adaptive_avg_pool1d.h>
#include <ATen/ops/max_pool1d.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/isnan.h>
#include <ATen/ops/nan_to_num.h>
#include <ATen/ops/randn.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include <limits>
#include <string>
#include <utility>

#include "scfm/model/scbench/cnn.h"
#include "scfm/model/scbench/linear.h"

using namespace scfm::model;

TEST(LinearOurs, TokenPoolingEqualsAdaptiveAveragePooling) {
  torch::manual_seed(11);
  // (L, L'): linear_ours' halvings with <cls> (513 -> 256 -> 128), down to one token, an odd
  // length halved, and windows that are not uniform (10 -> 4: [0,3) [2,5) [5,8) [7,10))
  for (auto [L, out] : {std::pair<int64_t, int64_t>{513, 256}, {256, 128}, {16, 1}, {17, 8}, {10, 4}, {9, 9}}) {
    for (bool tokens_inner : {false, true}) {
      const std::string what = std::to_string(L) + " -> " + std::to_string(out) + (tokens_inner ? " (B x E x L)" : " (B x L x E)");
      // B x L x E, laid out as given or as the transpose of a B x E x L tensor
      at::Tensor h = tokens_inner ? at::randn({3, 5, L}).transpose(1, 2) : at::randn({3, L, 5});
      h.requires_grad_(true);
      const at::Tensor g = at::randn({3, out, 5});
      const at::Tensor ours = scbench::pool_tokens(h, out);
      const at::Tensor ref = at::adaptive_avg_pool1d(h.transpose(1, 2), {out}).transpose(1, 2);
      ASSERT_EQ(ours.sizes(), ref.sizes()) << what;
      EXPECT_LT((ours - ref).abs().max().item<double>(), 1e-6) << what;
      const at::Tensor g_ours = torch::autograd::grad({ours}, {h}, {g})[0];
      const at::Tensor g_ref = torch::autograd::grad({ref}, {h}, {g})[0];
      EXPECT_LT((g_ours - g_ref).abs().max().item<double>(), 1e-6) << what;
    }
  }
}

TEST(Cnn, PairMaxPoolingEqualsMaxPool1d) {
  torch::manual_seed(12);
  at::Tensor h = at::randn({3, 4, 64});
  float* p = h.data_ptr<float>();
  p[0] = p[1] = 0.5f;                                       // a tie: the first element takes the gradient
  p[2] = std::numeric_limits<float>::quiet_NaN();           // NaN first
  p[5] = std::numeric_limits<float>::quiet_NaN();           // NaN second
  p[6] = p[7] = std::numeric_limits<float>::quiet_NaN();    // both NaN
  p[8] = -std::numeric_limits<float>::infinity();           // -inf against a number
  p[10] = p[11] = -std::numeric_limits<float>::infinity();  // both -inf
  h.requires_grad_(true);
  const at::Tensor g = at::randn({3, 4, 32});
  const at::Tensor ours = scbench::max_pool_pairs(h);
  const at::Tensor ref = at::max_pool1d(h, {2}, {2});
  EXPECT_TRUE(at::equal(ours.isnan(), ref.isnan()));
  EXPECT_TRUE(at::equal(at::nan_to_num(ours), at::nan_to_num(ref)));
  const at::Tensor g_ours = torch::autograd::grad({ours}, {h}, {g})[0];
  const at::Tensor g_ref = torch::autograd::grad({ref}, {h}, {g})[0];
  EXPECT_TRUE(at::equal(g_ours, g_ref));
}
