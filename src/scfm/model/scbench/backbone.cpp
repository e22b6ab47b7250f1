#include "scfm/model/scbench/backbone.h"

#include <ATen/ops/gelu.h>
#include <ATen/ops/leaky_relu.h>
#include <ATen/ops/relu.h>
#include <c10/core/GradMode.h>
#include <torch/nn/init.h>

#include <string>

namespace scfm::model::scbench {

at::Tensor activate(const at::Tensor& x, Activation a) {
  switch (a) {
    case Activation::kReLU: return at::relu(x);
    case Activation::kLeakyReLU: return at::leaky_relu(x, 0.01);
    case Activation::kGELU: return at::gelu(x);  // exact (erf), as nn.GELU() / F.gelu
  }
  return x;
}

MlpImpl::MlpImpl(const std::vector<int64_t>& widths, Activation act) : activation(act) {
  for (size_t i = 0; i + 1 < widths.size(); ++i)
    linears.push_back(register_module(std::to_string(2 * i), torch::nn::Linear(widths[i], widths[i + 1])));
}

at::Tensor MlpImpl::forward(at::Tensor x) {
  for (size_t i = 0; i < linears.size(); ++i) {
    x = linears[i]->forward(x);
    if (i + 1 < linears.size()) x = activate(x, activation);
  }
  return x;
}

void MlpImpl::init_xavier() {
  c10::AutoGradMode no_grad(false);
  for (auto& l : linears) {
    torch::nn::init::xavier_uniform_(l->weight);
    if (l->bias.defined()) l->bias.zero_();
  }
}

}  // namespace scfm::model::scbench
