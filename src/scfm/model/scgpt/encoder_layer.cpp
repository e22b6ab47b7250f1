#include "scfm/model/scgpt/encoder_layer.h"

#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace nn = torch::nn;

std::string shape_string(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}


model::EncoderLayerOptions layer_options(const EncoderLayerOptions& o) {
  if (o.activation != "relu" && o.activation != "gelu")
    throw Error("scGPT encoder layer: activation should be relu or gelu, not " + o.activation);
  if (o.norm_scheme != "post" && o.norm_scheme != "pre")
    throw Error("scGPT encoder layer: norm_scheme should be pre or post, not " + o.norm_scheme);
  model::EncoderLayerOptions m;
  m.d_model = o.d_model;
  m.nhead = o.nhead;
  m.dim_feedforward = o.dim_feedforward;
  m.dropout = o.dropout;
  m.gelu = o.activation == "gelu";
  m.layer_norm_eps = o.layer_norm_eps;
  m.norm = o.norm_scheme == "pre" ? model::NormScheme::kScGptPre : model::NormScheme::kPost;
  return m;
}

TransformerEncoderImpl::TransformerEncoderImpl(const EncoderLayerOptions& o, int64_t n) {
  layers = register_module("layers", nn::ModuleList());
  const model::EncoderLayerOptions lo = layer_options(o);
  for (int64_t i = 0; i < n; ++i) {
    stack.push_back(model::EncoderLayer(lo));
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
