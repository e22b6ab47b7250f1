// model::dropout (keyed mask) and model::self_attention_training (per-(cell, head) attention
// with recomputation in backward) against plain ATen formulations.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include <cmath>
#include <vector>
#include <limits>

#include "scfm/model/attention.h"
#include "scfm/model/dropout.h"

using namespace scfm;

namespace {

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// the keep mask scaled by 1 / (1 - p) of a B x ... tensor, as model::dropout says: row b is key b
// (no DropoutKeys), element i of the row by dropout_keeps(dropout_row_seed(seed, b), i, p)
at::Tensor keyed_mask(uint64_t seed, at::IntArrayRef shape, double p) {
  at::Tensor m = at::empty(shape, at::kFloat);
  float* d = m.data_ptr<float>();
  const int64_t rows = shape[0], row = m.numel() / rows;
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t i = 0; i < row; ++i)
      d[b * row + i] = model::dropout_keeps(model::dropout_row_seed(seed, b), static_cast<uint64_t>(i), p)
                           ? static_cast<float>(1.0 / (1.0 - p))
                           : 0.0f;
  return m;
}

// the attention's mask, B x H x T x T: query i, key j of head h in row b
at::Tensor attention_mask(uint64_t seed, int64_t B, int64_t H, int64_t T, double p, const std::vector<int64_t>& keys) {
  at::Tensor m = at::empty({B, H, T, T}, at::kFloat);
  auto a = m.accessor<float, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j)
          a[b][h][i][j] = model::dropout_keeps(model::dropout_row_seed(seed, keys[b]),
                                               ((static_cast<uint64_t>(h) << 20) + i) << 20 | static_cast<uint64_t>(j), p)
                              ? static_cast<float>(1.0 / (1.0 - p))
                              : 0.0f;
  return m;
}

}  // namespace

TEST(KeyedDropout, DropsTheRightShareAndScalesTheRest) {
  const double p = 0.15;
  const int64_t n = 1 << 20;
  at::Tensor x = at::rand({n}) + 0.5;  // no zeros of its own
  at::manual_seed(7);
  at::Tensor y = model::dropout(x, p, true);
  const double dropped = (y == 0).sum().item<double>();
  const double sd = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(dropped, n * p, 5 * sd);
  at::Tensor kept = y != 0;
  EXPECT_LT(max_abs(y.masked_select(kept), x.masked_select(kept) / (1 - p)), 1e-6);
  // identity outside training and at p = 0
  EXPECT_TRUE(model::dropout(x, p, false).is_same(x));
  EXPECT_TRUE(model::dropout(x, 0.0, true).is_same(x));
}

TEST(KeyedDropout, MaskIsTheDocumentedHashOfTheSeedDrawnFromTheGenerator) {
  const double p = 0.3;
  at::Tensor x = at::rand({3, 1000}) + 0.5;
  at::manual_seed(11);
  const uint64_t seed = model::draw_dropout_seed();
  at::manual_seed(11);
  at::Tensor y = model::dropout(x, p, true);
  EXPECT_TRUE(at::equal(y != 0, keyed_mask(seed, {3, 1000}, p) != 0));
  // the next call draws another seed: another mask
  at::Tensor y2 = model::dropout(x, p, true);
  EXPECT_FALSE(at::equal(y != 0, y2 != 0));
  // same generator seed -> same mask, whatever the thread count
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  at::manual_seed(11);
  at::Tensor y1 = model::dropout(x, p, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(y, y1));
}

TEST(KeyedDropout, BackwardUsesTheForwardMask) {
  const double p = 0.25;
  at::Tensor x = (at::rand({64, 257}) + 0.5).requires_grad_(true);
  at::Tensor w = at::randn({64, 257});
  at::manual_seed(5);
  at::Tensor y = model::dropout(x, p, true);
  auto g = torch::autograd::grad({(y * w).sum()}, {x})[0];
  at::Tensor expected = (y.detach() != 0).to(at::kFloat) * w / (1 - p);
  EXPECT_LT(max_abs(g, expected), 1e-6);
}

// self_attention_training equals softmax(q k^T / sqrt(D) + mask) * dropout-mask @ v, values and
// gradients, with and without dropout, with padded keys.
TEST(AttentionTraining, MatchesTheUnfusedFormulation) {
  const int64_t B = 3, H = 2, T = 37, D = 8;
  for (double p : {0.0, 0.2}) {
    at::manual_seed(1);
    at::Tensor q = at::randn({B, H, T, D}).requires_grad_(true), k = at::randn({B, H, T, D}).requires_grad_(true),
               v = at::randn({B, H, T, D}).requires_grad_(true);
    at::Tensor pad = at::zeros({B, T}, at::kBool);
    pad[1].narrow(0, T - 5, 5).fill_(true);
    pad[2].narrow(0, 20, 17).fill_(true);
    at::Tensor w = at::randn({B, H, T, D});

    at::manual_seed(99);
    const uint64_t seed = model::draw_dropout_seed();
    at::manual_seed(99);
    at::Tensor out = model::self_attention_training(q, k, v, pad, p);
    auto g = torch::autograd::grad({(out * w).sum()}, {q, k, v});

    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));
    scores = scores.masked_fill(pad.view({B, 1, 1, T}), -std::numeric_limits<float>::infinity());
    at::Tensor prob = at::softmax(scores, -1);
    if (p > 0) prob = prob * attention_mask(seed, B, H, T, p, {0, 1, 2});
    at::Tensor ref = at::matmul(prob, v);
    auto gr = torch::autograd::grad({(ref * w).sum()}, {q, k, v});

    EXPECT_LT(max_abs(out, ref), 1e-5) << "p " << p;
    for (int i = 0; i < 3; ++i) EXPECT_LT(max_abs(g[i], gr[i]), 1e-5) << "p " << p << " input " << i;
    // padded keys get no gradient through k and v
    EXPECT_EQ(g[1][2].narrow(1, 20, 17).abs().max().item<float>(), 0.0f);
    EXPECT_EQ(g[2][1].narrow(1, T - 5, 5).abs().max().item<float>(), 0.0f);
  }
}

TEST(AttentionTraining, SameResultForOneAndTwoThreads) {
  at::manual_seed(2);
  at::Tensor q = at::randn({2, 4, 50, 16}), k = at::randn({2, 4, 50, 16}), v = at::randn({2, 4, 50, 16});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  at::manual_seed(3);
  at::Tensor a = model::self_attention_training(q, k, v, at::Tensor(), 0.1);
  at::set_num_threads(2);
  at::manual_seed(3);
  at::Tensor b = model::self_attention_training(q, k, v, at::Tensor(), 0.1);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(a, b));
}

// Under DropoutKeys a cell's dropout mask depends on (step seed, call, cell), not on the batch it
// is in: cell 7 in a batch of three (padded to 40 tokens) and alone (its own 25 tokens) gets the
// same attention output and the same dropped elements.
TEST(AttentionTraining, UnderDropoutKeysACellsMaskIgnoresItsBatch) {
  const int64_t H = 2, D = 4, E = H * D;
  at::manual_seed(4);
  at::Tensor qkv3 = at::randn({3, 40, 3 * E});
  at::Tensor pad3 = at::zeros({3, 40}, at::kBool);
  pad3[1].narrow(0, 25, 15).fill_(true);  // row 1 is cell 7: 25 tokens
  at::Tensor x3 = at::rand({3, 40, E}) + 0.5;
  at::Tensor out3, y3, out1, y1;
  {
    model::DropoutKeys keys(1234, at::tensor(std::vector<int64_t>{5, 7, 9}));
    out3 = model::self_attention_training_packed(qkv3, H, pad3, 0.3);
    y3 = model::dropout(x3, 0.3, true);
  }
  {
    model::DropoutKeys keys(1234, at::tensor(std::vector<int64_t>{7}));
    out1 = model::self_attention_training_packed(qkv3[1].narrow(0, 0, 25).unsqueeze(0), H, at::Tensor(), 0.3);
    y1 = model::dropout(x3[1].narrow(0, 0, 25).unsqueeze(0), 0.3, true);
  }
  EXPECT_LT(max_abs(out3[1].narrow(0, 0, 25), out1[0]), 1e-5);
  EXPECT_TRUE(at::equal(y3[1].narrow(0, 0, 25), y1[0]));
  // another cell key, another mask
  at::Tensor y_other;
  {
    model::DropoutKeys keys(1234, at::tensor(std::vector<int64_t>{8}));
    (void)model::self_attention_training_packed(qkv3[1].narrow(0, 0, 25).unsqueeze(0), H, at::Tensor(), 0.3);
    y_other = model::dropout(x3[1].narrow(0, 0, 25).unsqueeze(0), 0.3, true);
  }
  EXPECT_FALSE(at::equal(y_other[0], y1[0]));
}
