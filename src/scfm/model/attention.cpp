#include "scfm/model/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>
#include <torch/nn/init.h>
#include <torch/utils.h>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <ATen/ops/scaled_dot_product_attention.h>
#endif

#include <cmath>
#include <limits>

#include "scfm/util/error.h"

namespace scfm::model {

at::Tensor self_attention_inference(const at::Tensor& qkv_packed, int64_t H, const at::Tensor& key_padding_mask) {
  const int64_t B = qkv_packed.size(0), T = qkv_packed.size(1), E = qkv_packed.size(2) / 3, D = E / H;
  at::Tensor qkv = qkv_packed.view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4}).contiguous();
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // B x H x T x D each
  at::Tensor bias;
  if (key_padding_mask.defined())
    bias = at::zeros({B, 1, 1, T}, qkv.options())
               .masked_fill_(key_padding_mask.view({B, 1, 1, T}), -std::numeric_limits<float>::infinity());
  at::Tensor out = at::empty({B, H, T, D}, qkv.options());
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor kt = k[b].transpose(1, 2);
    at::Tensor scores = bias.defined() ? at::baddbmm(bias[b], q[b], kt, 1.0, scale) : at::bmm(q[b], kt).mul_(scale);
    at::Tensor ob = out[b];
    at::bmm_out(ob, at::softmax(scores, -1), v[b]);
  }
  return out.transpose(1, 2).reshape({B, T, E});
}

SelfAttentionImpl::SelfAttentionImpl(int64_t e, int64_t h, double dropout)
    : embed_dim(e), num_heads(h), dropout_p(dropout) {
  if (e <= 0 || h <= 0 || e % h != 0)
    throw Error("attention: embed_dim " + std::to_string(e) + " must be a positive multiple of num_heads " +
                std::to_string(h));
  // PyTorch's nn.MultiheadAttention initialisation.
  in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * e, e}));
  in_proj_bias = register_parameter("in_proj_bias", at::zeros({3 * e}));
  out_proj = register_module("out_proj", torch::nn::Linear(e, e));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  const int64_t B = x.size(0), L = x.size(1), E = embed_dim, H = num_heads, D = E / H;
#if TORCH_VERSION_MAJOR < 2
  if (!c10::GradMode::is_enabled() && !(dropout_p > 0 && is_training()))  // inference: the cache-friendly kernel
    return out_proj(self_attention_inference(at::linear(x, in_proj_weight, in_proj_bias), H, key_padding_mask));
#endif
  // (B, L, 3E) -> (3, B, H, L, D)
  at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias).view({B, L, 3, H, D}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  const double p = is_training() ? dropout_p : 0.0;
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels where available; boolean mask: true = take part.
  c10::optional<at::Tensor> mask;
  if (key_padding_mask.defined()) mask = key_padding_mask.logical_not().view({B, 1, 1, L});
  out = at::scaled_dot_product_attention(q, k, v, mask, p, false);
#else
  // PyTorch 1.13's standard path: q scaled first, -inf at padded keys, softmax, dropout.
  at::Tensor scores = at::matmul(q / std::sqrt(static_cast<double>(D)), k.transpose(-2, -1));
  if (key_padding_mask.defined())
    scores = scores.masked_fill(key_padding_mask.view({B, 1, 1, L}), -std::numeric_limits<float>::infinity());
  at::Tensor attn = at::softmax(scores, -1);
  if (p > 0) attn = at::dropout(attn, p, true);
  out = at::matmul(attn, v);
#endif
  return out_proj(out.transpose(1, 2).reshape({B, L, E}));
}

}  // namespace scfm::model
