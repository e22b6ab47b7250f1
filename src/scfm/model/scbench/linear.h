// scBenchmark's two MLP encoders.
//
// "linear_ours" (models_utils/Linear.py, LinearModel): layer i mixes channels (Linear E -> E),
// then tokens (Linear L_i -> L_{i+1} along the token axis), BatchNorm1d(E), GELU, plus the input
// average-pooled to L_{i+1} tokens. L_0 = train_maxseq + 1, L_{i+1} = L_i / 2, and the last layer
// maps to 1 token, which is the cell embedding (B x E). The input must have exactly L_0 tokens.
// Names: layers.<i>.linear_channel, layers.<i>.linear_seq, layers.<i>.bn.
//
// "linear_base" (models_utils/Linear_base.py, LinearModel_Base): per token,
// x <- x + gelu(LayerNorm(fc2(relu(fc1(x))))); output B x T x E.
// Names: ffns.<i>.fc1, ffns.<i>.fc2, layer_norms.<i>.
#pragma once

#include <torch/arg.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "scfm/model/scbench/backbone.h"

namespace scfm::model::scbench {

struct LinearOursOptions {
  LinearOursOptions(int64_t channels, int64_t seq_length, int64_t num_layers)
      : channels_(channels), seq_length_(seq_length), num_layers_(num_layers) {}
  TORCH_ARG(int64_t, channels);    // d_model
  TORCH_ARG(int64_t, seq_length);  // input tokens: train_maxseq + 1
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(double, dropout) = 0;  // registered but unused by the original forward
};

struct Linear1DLayerImpl : torch::nn::Module {
  Linear1DLayerImpl(int64_t channels, int64_t in_length, int64_t out_length);
  at::Tensor forward(const at::Tensor& x);  // B x L x E -> B x L' x E

  torch::nn::Linear linear_channel{nullptr}, linear_seq{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Linear1DLayer);

// The original's adaptive_avg_pool1d(h.transpose(1, 2), L').transpose(1, 2) for h: B x L x E,
// by a direct kernel when the windows are uniform (linear_ours' are) on CPU float32.
at::Tensor pool_tokens(const at::Tensor& h, int64_t out);

class LinearOursImpl : public BackboneImpl {
 public:
  explicit LinearOursImpl(const LinearOursOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) override;
  bool per_token() const override { return false; }

  LinearOursOptions options;
  torch::nn::ModuleList layers;
  std::vector<Linear1DLayer> blocks;
};
TORCH_MODULE(LinearOurs);

struct FfnImpl : torch::nn::Module {
  explicit FfnImpl(int64_t features);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Ffn);

struct LinearBaseOptions {
  LinearBaseOptions(int64_t features, int64_t num_layers) : features_(features), num_layers_(num_layers) {}
  TORCH_ARG(int64_t, features);  // d_model
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(double, dropout) = 0;  // registered but unused by the original forward
};

class LinearBaseImpl : public BackboneImpl {
 public:
  explicit LinearBaseImpl(const LinearBaseOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) override;
  bool per_token() const override { return true; }

  LinearBaseOptions options;
  torch::nn::ModuleList ffns, layer_norms;
  std::vector<Ffn> ffn_list;
  std::vector<torch::nn::LayerNorm> norms;
};
TORCH_MODULE(LinearBase);

}  // namespace scfm::model::scbench
