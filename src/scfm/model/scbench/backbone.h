// The pieces every scBenchmark structure shares: the encoder interface scModel calls, and the
// small index-named MLPs (PyTorch nn.Sequential layouts) of its heads.
//
// Tensor layout (all structures): x is B x T x E float (gene + value embeddings, batch first),
// src is B x T int64 vocabulary ids, pad_mask is B x T bool, true at padded tokens.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace scfm::model::scbench {

// An encoder scModel calls as `encoder(x, src, pad_mask)`.
class BackboneImpl : public torch::nn::Module {
 public:
  // per_token(): B x T x E (read out by cls / avg-pool, decoded per token);
  // otherwise B x E (the cell embedding itself).
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) = 0;
  virtual bool per_token() const = 0;
};

enum class Activation { kReLU, kLeakyReLU, kGELU };  // LeakyReLU: slope 0.01 (PyTorch default)
at::Tensor activate(const at::Tensor& x, Activation a);

// nn.Sequential(Linear, Act, Linear, Act, ..., Linear): Linear i is registered as "2*i" (the
// activations hold no parameters but take the odd indices), so the keys are "0.weight",
// "2.weight", ... as in PyTorch. widths = {in, hidden..., out}; no activation after the last.
struct MlpImpl : torch::nn::Module {
  MlpImpl(const std::vector<int64_t>& widths, Activation activation);
  at::Tensor forward(at::Tensor x);
  // PyTorch's scModel._init_weights: xavier_uniform_ weights, zero biases.
  void init_xavier();

  std::vector<torch::nn::Linear> linears;
  Activation activation;
};
TORCH_MODULE(Mlp);

}  // namespace scfm::model::scbench
