// scBenchmark's "cnn_base" / "cnn_ours" encoder (models_utils/cnn_base.py, CNNModel): 1-D
// convolutions over the token axis with the embedding as channels. Layer i: Conv1d(E, E, 9,
// padding 4, stride s) + BatchNorm1d(E), GELU, plus a residual MaxPool1d(s) of its input, with
// s = 1 when i % 6 == 0 and 2 otherwise; then a mean over the remaining tokens. Output B x E.
// Names: layers.<i>.conv, layers.<i>.bn (running_mean, running_var, num_batches_tracked).
//
// Length: every stride-2 layer halves the token count and needs it even (the conv and the pool
// otherwise disagree by one); scModel gives it train_maxseq + 1 tokens. cnn_ours differs only in
// the token order scModel feeds it (sc_model.h).
#pragma once

#include <torch/arg.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

#include "scfm/model/scbench/backbone.h"

namespace scfm::model::scbench {

struct CnnOptions {
  CnnOptions(int64_t channels, int64_t num_layers) : channels_(channels), num_layers_(num_layers) {}
  TORCH_ARG(int64_t, channels);  // d_model
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(double, dropout) = 0;
};

// The original's MaxPool1d(2, 2) of B x E x L (L even): a direct kernel on CPU float32.
at::Tensor max_pool_pairs(const at::Tensor& h);

struct Conv1DLayerImpl : torch::nn::Module {
  Conv1DLayerImpl(int64_t channels, int64_t stride);
  at::Tensor forward(const at::Tensor& x);  // B x E x L -> B x E x L'

  int64_t stride;
  torch::nn::Conv1d conv{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Conv1DLayer);

class CnnImpl : public BackboneImpl {
 public:
  explicit CnnImpl(const CnnOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) override;
  bool per_token() const override { return false; }
  // Throws scfm::Error unless `tokens` tokens pass every layer (even counts at stride-2 layers).
  void check_length(int64_t tokens) const;

  CnnOptions options;
  torch::nn::ModuleList layers;
  std::vector<Conv1DLayer> convs;
};
TORCH_MODULE(Cnn);

}  // namespace scfm::model::scbench
