// PyTorch's nn.TransformerEncoderLayer (batch_first), the layer of both scBenchmark's
// "transformer" and scGPT's TransformerModel, with PyTorch's parameter names: self_attn
// (model::SelfAttention: in_proj_weight, in_proj_bias, out_proj), linear1, linear2, norm1, norm2.
// Dropout (model::dropout) after the attention, inside the feed-forward and after it.
//
// Norm placement:
//   kPost       PyTorch's default (both originals): x = norm1(x + sa(x)); x = norm2(x + ff(x))
//   kPreLN      PyTorch's norm_first: x = x + sa(norm1(x)); x = x + ff(norm2(x))
//   kScGptPre   scGPT's FlashTransformerEncoderLayer "pre": x = norm1(x); x = x + sa(x);
//               x = norm2(x); x = x + ff(x)  (the residual is taken after the norm)
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "scfm/model/attention.h"

namespace scfm::model {

enum class NormScheme { kPost, kPreLN, kScGptPre };

struct EncoderLayerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  bool gelu = false;  // feed-forward activation: relu (PyTorch's default) or exact gelu
  double layer_norm_eps = 1e-5;
  NormScheme norm = NormScheme::kPost;
};

struct EncoderLayerImpl : torch::nn::Module {
  explicit EncoderLayerImpl(const EncoderLayerOptions& options);
  // x (batch, seq, d_model); key_padding_mask (batch, seq) bool, true = pad, or undefined
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_padding_mask);
  // The self-attention scores of this layer for input x (what forward() would be given):
  // q k^T / sqrt(D) per head, B x H x T x T (query rows, key columns), -inf at padded keys;
  // q and k are in_proj of the attention's input (x for kPost, norm1(x) for the pre-norm schemes).
  // The attention probabilities are their softmax over the last axis. Inference only (no dropout).
  at::Tensor attention_logits(const at::Tensor& x, const at::Tensor& key_padding_mask);

  EncoderLayerOptions options;
  SelfAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(EncoderLayer);

}  // namespace scfm::model
