// train::adam_step against LibTorch's own Adam::step: same parameters and state after several
// steps, and the two interchangeable mid-run (the state is the optimiser's).
#include <gtest/gtest.h>

#include <ATen/ops/randn.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include "scfm/train/adam.h"

using namespace scfm;

namespace {

struct Net : torch::nn::Module {
  Net() {
    emb = register_module("emb", torch::nn::Embedding(1000, 64));
    fc = register_module("fc", torch::nn::Linear(64, 3));
  }
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear fc{nullptr};
};

// k steps with gradients that depend on the step; fused: train::adam_step, else Adam::step; a
// mixed run switches to Adam::step after two fused steps
void run(Net& net, int k, int fused_steps) {
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(3e-3));
  for (int s = 0; s < k; ++s) {
    opt.zero_grad();
    int i = 0;
    for (auto& p : net.parameters()) p.mutable_grad() = at::randn(p.sizes()) * (1.0 + 0.5 * s + i++);
    if (s < fused_steps) train::adam_step(opt);
    else opt.step();
  }
  for (auto& p : net.parameters()) {
    auto& st = static_cast<torch::optim::AdamParamState&>(*opt.state().at(train::adam_state_key(p)));
    EXPECT_EQ(st.step(), k);
  }
}

}  // namespace

TEST(AdamStep, EqualsLibTorchsAdam) {
  Net a, b, c;
  {
    torch::NoGradGuard g;
    for (auto* n : {&b, &c})
      for (size_t i = 0; i < a.parameters().size(); ++i) n->parameters()[i].copy_(a.parameters()[i]);
  }
  at::manual_seed(1);
  run(a, 6, 0);  // LibTorch
  at::manual_seed(1);
  run(b, 6, 6);  // fused
  at::manual_seed(1);
  run(c, 6, 2);  // fused, then LibTorch from the fused state
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    const at::Tensor pa = a.parameters()[i];
    const double scale = pa.abs().max().item<double>();
    EXPECT_LT((b.parameters()[i] - pa).abs().max().item<double>(), 1e-6 * scale) << i;
    EXPECT_LT((c.parameters()[i] - pa).abs().max().item<double>(), 1e-6 * scale) << i;
    EXPECT_FALSE(at::equal(pa, Net().parameters()[i]));  // it moved
  }
}
