#include "scfm/model/encoder_layer.h"

#include <ATen/ops/gelu.h>
#include <ATen/ops/relu.h>

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

}  // namespace scfm::model
