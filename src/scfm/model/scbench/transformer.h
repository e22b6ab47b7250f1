// scBenchmark's "transformer" / "transformer_ours" encoder: torch.nn.TransformerEncoder of
// TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True) with a
// key-padding mask. Registered names equal PyTorch's: layers.<i>.self_attn.in_proj_weight,
// layers.<i>.self_attn.out_proj.weight, layers.<i>.linear1, linear2, norm1, norm2 (LayerNorm eps
// 1e-5).
//
// Pads: in eval mode the output at padded tokens is 0, as PyTorch's eval fast path (nested
// tensors, taken by scBenchmark's no_grad inference) returns it; in training mode it is the
// layer's output there (PyTorch's standard path). Non-padded tokens never see padded ones.
#pragma once

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "scfm/model/encoder_layer.h"
#include "scfm/model/scbench/backbone.h"

namespace scfm::model::scbench {

struct TransformerOptions {
  TransformerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, nhead);
  // scBenchmark passes d_model as the feed-forward width; 0 = d_model.
  TORCH_ARG(int64_t, dim_feedforward) = 0;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(Activation, activation) = Activation::kReLU;  // kReLU or kGELU
  TORCH_ARG(bool, norm_first) = false;                    // false = post-LN (scBenchmark)
  TORCH_ARG(int64_t, num_layers) = 1;
};

// The layer is model::EncoderLayer (model/encoder_layer.h, shared with scGPT).
model::EncoderLayerOptions layer_options(const TransformerOptions& options);

class TransformerEncoderImpl : public BackboneImpl {
 public:
  explicit TransformerEncoderImpl(const TransformerOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) override;
  bool per_token() const override { return true; }

  TransformerOptions options;
  torch::nn::ModuleList layers;
  std::vector<model::EncoderLayer> layer_list;
};
TORCH_MODULE(TransformerEncoder);

}  // namespace scfm::model::scbench
