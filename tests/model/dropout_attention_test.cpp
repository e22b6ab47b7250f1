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
#include <limits>

#include "scfm/model/attention.h"
#include "scfm/model/dropout.h"

using namespace scfm;

namespace {

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// the keep mask scaled by 1 / (1 - p), as model::dropout_keeps says, for indices offset.. of a shape
at::Tensor keyed_mask(uint64_t seed, at::IntArrayRef shape, double p) {
  at::Tensor m = at::empty(shape, at::kFloat);
  float* d = m.data_ptr<float>();
  for (int64_t i = 0; i < m.numel(); ++i)
    d[i] = model::dropout_keeps(seed, static_cast<uint64_t>(i), p) ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
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
    if (p > 0) prob = prob * keyed_mask(seed, {B, H, T, T}, p);
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
