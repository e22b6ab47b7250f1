#include "scfm/model/encoder_layer.h"

#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/relu.h>

#include <cmath>
#include <limits>

#include "scfm/model/dropout.h"

namespace scfm::model {

namespace nn = torch::nn;

EncoderLayerImpl::EncoderLayerImpl(const EncoderLayerOptions& o) : options(o) {
  self_attn = register_module("self_attn", SelfAttention(o.d_model, o.nhead, o.dropout));
  linear1 = register_module("linear1", nn::Linear(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", nn::Linear(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({o.d_model}).eps(o.layer_norm_eps)));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({o.d_model}).eps(o.layer_norm_eps)));
}

at::Tensor EncoderLayerImpl::forward(const at::Tensor& input, const at::Tensor& key_padding_mask) {
  const bool train = is_training();
  const double p = options.dropout;
  auto sa = [&](const at::Tensor& x) { return model::dropout(self_attn(x, key_padding_mask), p, train); };
  auto ff = [&](const at::Tensor& x) {
    at::Tensor h = linear1(x);
    h = options.gelu ? at::gelu(h) : at::relu(h);
    return model::dropout(linear2(model::dropout(h, p, train)), p, train);
  };
  at::Tensor x = input;
  switch (options.norm) {
    case NormScheme::kPost:
      x = norm1(x + sa(x));
      return norm2(x + ff(x));
    case NormScheme::kPreLN:
      x = x + sa(norm1(x));
      return x + ff(norm2(x));
    case NormScheme::kScGptPre:
      x = norm1(x);
      x = x + sa(x);
      x = norm2(x);
      return x + ff(x);
  }
  return x;
}

at::Tensor EncoderLayerImpl::attention_logits(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  const at::Tensor a = options.norm == NormScheme::kPost ? x : norm1(x);
  const int64_t B = a.size(0), T = a.size(1), E = options.d_model, H = options.nhead, D = E / H;
  const at::Tensor qkv = at::linear(a, self_attn->in_proj_weight, self_attn->in_proj_bias);  // B x T x 3E
  const at::Tensor q = qkv.narrow(2, 0, E).reshape({B, T, H, D}).permute({0, 2, 1, 3});
  const at::Tensor k = qkv.narrow(2, E, E).reshape({B, T, H, D}).permute({0, 2, 3, 1});
  at::Tensor s = at::matmul(q, k).mul_(1.0 / std::sqrt(static_cast<double>(D)));  // B x H x T x T
  if (key_padding_mask.defined())
    s.masked_fill_(key_padding_mask.to(at::kBool).view({B, 1, 1, T}), -std::numeric_limits<float>::infinity());
  return s;
}

}  // namespace scfm::model
