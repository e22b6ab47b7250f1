#include "scfm/model/scgpt/encoder_layer.h"

#include "scfm/model/dropout.h"
#include <ATen/ops/gelu.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/relu.h>
#include <torch/utils.h>
#include <torch/version.h>


#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace nn = torch::nn;

std::string shape_string(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
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
    return model::dropout(linear2(model::dropout(h, p, train)), p, train);
  };
  at::Tensor x = input;
  if (options.norm_scheme == "pre") {
    x = norm1(x);
    x = x + model::dropout(self_attn(x, key_padding_mask), p, train);
    x = norm2(x);
    x = x + ff(x);
  } else {
    x = norm1(x + model::dropout(self_attn(x, key_padding_mask), p, train));
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
