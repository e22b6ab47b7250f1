// Scaled dot-product self-attention for inference (no autograd), shared by the scBenchmark and
// scGPT encoders on LibTorch 1.x (2.x has at::scaled_dot_product_attention).
//
// Works one cell at a time, so that a cell's H x T x T scores stay in cache instead of streaming
// B x H x T x T floats through memory three times (mask, softmax, product); the key padding mask
// enters as an additive 0 / -inf bias of baddbmm, the 1/sqrt(D) scale as its alpha. Equal to
// softmax(q k^T / sqrt(D) + mask) v up to float rounding (the scale is applied to the product
// rather than to q first).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace scfm::model {

// qkv: B x T x 3E, the packed in-projection output (q | k | v along the last axis, as
// nn.MultiheadAttention's in_proj); key_padding_mask: B x T bool (true = ignore that key) or
// undefined. Returns B x T x E, the heads concatenated (before out_proj).
at::Tensor self_attention_inference(const at::Tensor& qkv, int64_t num_heads, const at::Tensor& key_padding_mask);

}  // namespace scfm::model
