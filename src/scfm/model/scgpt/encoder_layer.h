// scGPT's transformer stack: PyTorch's nn.TransformerEncoder of batch-first
// nn.TransformerEncoderLayer (post-norm, as scGPT builds it without flash-attn), with PyTorch's
// parameter names:
//   layers.{i}.self_attn.in_proj_weight (3E x E, rows [q; k; v], heads contiguous), in_proj_bias,
//   layers.{i}.self_attn.out_proj.{weight,bias}, linear1, linear2, norm1, norm2.
// scGPT's FlashTransformerEncoderLayer "pre" scheme (norm1 -> attention -> add -> norm2 -> FFN ->
// add; not PyTorch's norm_first) is available as norm_scheme "pre". No final LayerNorm.
//
// The attention is computed on the standard (autograd) path for every position, so padded
// query rows hold ordinary values (PyTorch 1.13's no-grad fast path writes zeros there instead;
// non-pad rows agree). A key padding mask (true = pad) sets those keys' scores to -inf; a row with
// every key padded gives NaN, as in PyTorch.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "scfm/model/encoder_layer.h"

#include <string>
#include <vector>

namespace scfm::model::scgpt {

// "(2, 17, 32)": a tensor's shape the way scGPT's messages print it.
std::string shape_string(const at::Tensor& t);

struct EncoderLayerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" | "gelu"
  double layer_norm_eps = 1e-5;
  std::string norm_scheme = "post";  // "post" (PyTorch) | "pre" (scGPT's flash layer)
};

// The layer itself is model::EncoderLayer (model/encoder_layer.h, shared with scBenchmark's
// transformer); these options map onto it (activation and norm_scheme checked there).
model::EncoderLayerOptions layer_options(const EncoderLayerOptions& options);

// nn.TransformerEncoder(layer, num_layers): `layers.{i}` only.
struct TransformerEncoderImpl : torch::nn::Module {
  TransformerEncoderImpl(const EncoderLayerOptions& options, int64_t num_layers);
  // x (batch, seq, d_model) -> (batch, seq, d_model). Throws scfm::Error on wrong shapes.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_padding_mask);

  torch::nn::ModuleList layers{nullptr};
  std::vector<model::EncoderLayer> stack;
};
TORCH_MODULE(TransformerEncoder);

}  // namespace scfm::model::scgpt
