#include "scfm/model/scgpt/encoder_layer.h"

#include <ATen/ops/dropout.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/relu.h>
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

#include "scfm/model/attention.h"
#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace nn = torch::nn;

std::string shape_string(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}


SelfAttentionImpl::SelfAttentionImpl(int64_t e, int64_t h, double dropout)
    : embed_dim(e), num_heads(h), dropout_p(dropout) {
  if (e % h != 0)
    throw Error("scGPT attention: embed_dim " + std::to_string(e) + " is not divisible by num_heads " +
                std::to_string(h));
  // PyTorch's nn.MultiheadAttention initialisation.
  in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * e, e}));
  in_proj_bias = register_parameter("in_proj_bias", at::zeros({3 * e}));
  out_proj = register_module("out_proj", nn::Linear(e, e));
  torch::NoGradGuard no_grad;
  nn::init::xavier_uniform_(in_proj_weight);
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

EncoderLayerImpl::EncoderLayerImpl(const EncoderLayerOptions& o) : options(o) {
  if (o.activation != "relu" && o.activation != "gelu")
    throw Error("scGPT encoder layer: activation should be relu or gelu, not " + o.activation);
  if (o.norm_scheme != "post" && o.norm_scheme != "pre")
    throw Error("scGPT encoder layer: norm_scheme should be pre or post, not " + o.norm_scheme);
  self_attn = register_module("self_attn", SelfAttention(o.d_model, o.nhead, o.dropout));
  linear1 = register_module("linear1", nn::Linear(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", nn::Linear(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({o.d_model}).eps(o.layer_norm_eps)));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({o.d_model}).eps(o.layer_norm_eps)));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& input, const at::Tensor& key_padding_mask) {
  const bool train = is_training();
  const double p = options.dropout;
  auto ff = [&](const at::Tensor& x) {
    at::Tensor h = linear1(x);
    h = options.activation == "gelu" ? at::gelu(h) : at::relu(h);
    return at::dropout(linear2(at::dropout(h, p, train)), p, train);
  };
  at::Tensor x = input;
  if (options.norm_scheme == "pre") {
    x = norm1(x);
    x = x + at::dropout(self_attn(x, key_padding_mask), p, train);
    x = norm2(x);
    x = x + ff(x);
  } else {
    x = norm1(x + at::dropout(self_attn(x, key_padding_mask), p, train));
    x = norm2(x + ff(x));
  }
  return x;
}

TransformerEncoderImpl::TransformerEncoderImpl(const EncoderLayerOptions& o, int64_t n) {
  layers = register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    stack.push_back(EncoderLayer(o));
    layers->push_back(stack.back());
  }
}

at::Tensor TransformerEncoderImpl::forward(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  if (x.dim() != 3)
    throw Error("scGPT transformer: input should have 3 dimensions (batch, seq, embsize), but got " + shape_string(x));
  if (!stack.empty() && x.size(2) != stack[0]->options.d_model)
    throw Error("scGPT transformer: input " + shape_string(x) + " should have embsize " +
                std::to_string(stack[0]->options.d_model) + " in its last dimension");
  if (key_padding_mask.defined() &&
      (key_padding_mask.dim() != 2 || key_padding_mask.size(0) != x.size(0) || key_padding_mask.size(1) != x.size(1)))
    throw Error("scGPT transformer: src_key_padding_mask " + shape_string(key_padding_mask) +
                " should be (batch, seq) = (" + std::to_string(x.size(0)) + ", " + std::to_string(x.size(1)) + ")");
  at::Tensor mask = key_padding_mask.defined() ? key_padding_mask.to(at::kBool) : key_padding_mask;
  at::Tensor out = x;
  for (auto& layer : stack) out = layer(out, mask);
  return out;
}

}  // namespace scfm::model::scgpt
