// model::scalar_relu_mlp (the value encoders' Linear(1, d), ReLU, Linear(d, d) in piecewise form)
// against the plain layers evaluated in double: values, every parameter gradient, thread count,
// batch companions, and the inputs that must take the plain path.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/equal.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include <limits>
#include <vector>

#include "scfm/model/value_mlp.h"

using namespace scfm;

namespace {

struct Params {
  at::Tensor w1, b1, w2, b2;
  std::vector<at::Tensor> list() const { return {w1, b1, w2, b2}; }
};

Params make_params(int64_t d, int64_t d_out, bool grad = true) {
  Params p{at::randn({d, 1}), at::randn({d}), at::randn({d_out, d}) / 16, at::randn({d_out})};
  // units that never switch (w1 = 0, on and off), and a unit whose threshold is exactly 0.5
  p.w1[0][0] = 0.f;
  p.b1[0] = 0.7f;
  p.w1[1][0] = 0.f;
  p.b1[1] = -0.3f;
  p.w1[2][0] = 2.f;
  p.b1[2] = -1.f;
  p.w1[3][0] = -2.f;
  p.b1[3] = 1.f;
  if (grad)
    for (at::Tensor& t : {std::ref(p.w1), std::ref(p.b1), std::ref(p.w2), std::ref(p.b2)}) t.requires_grad_(true);
  return p;
}

// values as scBenchmark feeds them: -1 for masked genes, 0 for <cls>/pads, ties, a unit's exact threshold
at::Tensor make_values(int64_t B, int64_t T) {
  at::Tensor x = at::rand({B, T, 1}) * 6 - 1;
  x.view({-1}).narrow(0, 0, 40).fill_(-1.f);
  x.view({-1}).narrow(0, 40, 30).fill_(0.f);
  x.view({-1}).narrow(0, 70, 10).fill_(0.5f);
  x.view({-1}).narrow(0, 80, 10).fill_(2.25f);
  return x;
}

at::Tensor plain(const at::Tensor& x, const Params& p) { return at::linear(at::relu(at::linear(x, p.w1, p.b1)), p.w2, p.b2); }

double rel_err(const at::Tensor& a, const at::Tensor& ref) {
  return ((a.to(at::kDouble) - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item<double>();
}

}  // namespace

TEST(ValueMlp, ValuesAndGradientsEqualThePlainLayers) {
  torch::manual_seed(5);
  const Params p = make_params(64, 48);
  const at::Tensor x = make_values(6, 50);
  const at::Tensor g = at::randn({6, 50, 48});

  const at::Tensor y = model::scalar_relu_mlp(x, p.w1, p.b1, p.w2, p.b2);
  const auto grads = torch::autograd::grad({y}, p.list(), {g});

  // the reference: the plain layers in double
  Params pd{p.w1.detach().to(at::kDouble).requires_grad_(), p.b1.detach().to(at::kDouble).requires_grad_(),
            p.w2.detach().to(at::kDouble).requires_grad_(), p.b2.detach().to(at::kDouble).requires_grad_()};
  const at::Tensor yd = plain(x.to(at::kDouble), pd);
  const auto gd = torch::autograd::grad({yd}, pd.list(), {g.to(at::kDouble)});

  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{6, 50, 48}));
  EXPECT_LT(rel_err(y, yd), 1e-6);
  const char* names[] = {"w1", "b1", "w2", "b2"};
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(grads[i].sizes(), gd[i].sizes()) << names[i];
    EXPECT_LT(rel_err(grads[i], gd[i]), 1e-6) << names[i];
  }
  // and at least as close to it as the plain layers in float32
  const at::Tensor yf = plain(x, p);
  const auto gf = torch::autograd::grad({yf}, p.list(), {g});
  EXPECT_LT(rel_err(y, yd), 4 * rel_err(yf, yd) + 1e-7);
  for (size_t i = 0; i < 4; ++i) EXPECT_LE(rel_err(grads[i], gd[i]), 4 * rel_err(gf[i], gd[i]) + 1e-7) << names[i];
}

TEST(ValueMlp, ATokenDependsOnItsOwnValueOnlyAtAnyThreadCount) {
  torch::manual_seed(6);
  const Params p = make_params(32, 32, false);
  const at::Tensor x = make_values(4, 300);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor y1 = model::scalar_relu_mlp(x, p.w1, p.b1, p.w2, p.b2);
  at::set_num_threads(2);
  const at::Tensor y2 = model::scalar_relu_mlp(x, p.w1, p.b1, p.w2, p.b2);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(y1, y2));
  // one cell alone, and the cells in another order: the same rows bitwise
  const at::Tensor alone = model::scalar_relu_mlp(x.narrow(0, 2, 1), p.w1, p.b1, p.w2, p.b2);
  EXPECT_TRUE(at::equal(alone[0], y1[2]));
  const at::Tensor swapped = model::scalar_relu_mlp(at::cat({x.narrow(0, 3, 1), x.narrow(0, 0, 3)}), p.w1, p.b1, p.w2, p.b2);
  EXPECT_TRUE(at::equal(swapped.narrow(0, 1, 3), y1.narrow(0, 0, 3)));
}

TEST(ValueMlp, GradientsDoNotDependOnTheThreadCount) {
  torch::manual_seed(7);
  const Params p = make_params(40, 24);
  const at::Tensor x = make_values(3, 200);
  const at::Tensor g = at::randn({3, 200, 24});
  const int threads = at::get_num_threads();
  std::vector<std::vector<at::Tensor>> runs;
  for (int t : {1, 2}) {
    at::set_num_threads(t);
    runs.push_back(torch::autograd::grad({model::scalar_relu_mlp(x, p.w1, p.b1, p.w2, p.b2)}, p.list(), {g}));
  }
  at::set_num_threads(threads);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(at::equal(runs[0][i], runs[1][i])) << i;
}

TEST(ValueMlp, OtherInputsTakeThePlainLayers) {
  torch::manual_seed(8);
  const Params p = make_params(16, 8);
  // a value that needs a gradient: the plain path, so that it gets one
  const at::Tensor x = make_values(2, 60).requires_grad_(true);
  const at::Tensor y = model::scalar_relu_mlp(x, p.w1, p.b1, p.w2, p.b2);
  const auto gx = torch::autograd::grad({y.sum()}, {x});
  const auto gref = torch::autograd::grad({plain(x, p).sum()}, {x});
  EXPECT_TRUE(at::allclose(gx[0], gref[0]));
  // NaN and Inf values keep the plain layers' answer (NaN stays NaN, Inf saturates as there)
  at::Tensor bad = make_values(1, 100);
  bad[0][0][0] = std::numeric_limits<float>::quiet_NaN();
  bad[0][1][0] = std::numeric_limits<float>::infinity();
  const at::Tensor yb = model::scalar_relu_mlp(bad, p.w1, p.b1, p.w2, p.b2);
  const at::Tensor yr = plain(bad, p);
  EXPECT_TRUE(at::equal(yb.isnan(), yr.isnan()));
  // double precision goes through the plain layers too
  Params pd{p.w1.detach().to(at::kDouble), p.b1.detach().to(at::kDouble), p.w2.detach().to(at::kDouble),
            p.b2.detach().to(at::kDouble)};
  const at::Tensor xd = make_values(2, 60).to(at::kDouble);
  EXPECT_TRUE(at::equal(model::scalar_relu_mlp(xd, pd.w1, pd.b1, pd.w2, pd.b2), plain(xd, pd)));
}
