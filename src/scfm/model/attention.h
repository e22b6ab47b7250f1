// nn.MultiheadAttention(batch_first=True) as self-attention, shared by the scBenchmark and scGPT
// encoders: in_proj_weight (3E x E, rows [q; k; v], heads contiguous), in_proj_bias (3E),
// out_proj (Linear E -> E), initialised as PyTorch does. With autograd on a CPU LibTorch 1.x it
// runs self_attention_training (below); LibTorch 2.x uses at::scaled_dot_product_attention;
// without autograd on 1.x it runs self_attention_inference.
//
// self_attention_inference: scaled dot-product self-attention without autograd.
// Works one cell at a time, so that a cell's H x T x T scores stay in cache instead of streaming
// B x H x T x T floats through memory three times (mask, softmax, product); the key padding mask
// enters as an additive 0 / -inf bias of baddbmm, the 1/sqrt(D) scale as its alpha. Equal to
// softmax(q k^T / sqrt(D) + mask) v up to float rounding (the scale is applied to the product
// rather than to q first).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace scfm::model {

// qkv: B x T x 3E, the packed in-projection output (q | k | v along the last axis, as
// nn.MultiheadAttention's in_proj); key_padding_mask: B x T bool (true = ignore that key) or
// undefined. Returns B x T x E, the heads concatenated (before out_proj).
at::Tensor self_attention_inference(const at::Tensor& qkv, int64_t num_heads, const at::Tensor& key_padding_mask);

// Scaled dot-product self-attention with autograd, for training on the CPU (LibTorch 1.x):
// q, k, v B x H x T x D; key_padding_mask B x T bool (true = ignore) or undefined; dropout on
// the probabilities with model::dropout's keyed mask (query i, key j of head h in cell row b:
// dropout_keeps(dropout_row_seed(call seed, key of b), (h * 2^20 + i) * 2^20 + j, p), so
// independent of the padded length T < 2^20). One (cell, head) at a time, nothing T x T kept for
// backward (it is recomputed). Returns B x H x T x D.
at::Tensor self_attention_training(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_padding_mask, double dropout_p);
// The same on the packed in-projection (qkv B x T x 3E, as self_attention_inference takes it);
// returns B x T x E, the heads concatenated. What SelfAttention trains with on the CPU.
at::Tensor self_attention_training_packed(const at::Tensor& qkv, int64_t num_heads, const at::Tensor& key_padding_mask,
                                          double dropout_p);

struct SelfAttentionImpl : torch::nn::Module {
  // Throws scfm::Error unless embed_dim is a positive multiple of num_heads.
  SelfAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout);
  // x (batch, seq, E); key_padding_mask (batch, seq) bool, true = ignore that key; may be undefined.
  // A row whose keys are all padded gives NaN, as in PyTorch.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_padding_mask);

  int64_t embed_dim, num_heads;
  double dropout_p;
  at::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(SelfAttention);

}  // namespace scfm::model
