#include "scfm/model/scbench/transformer.h"

#include <ATen/ops/masked_fill.h>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

model::EncoderLayerOptions layer_options(const TransformerOptions& o) {
  if (o.activation() != Activation::kReLU && o.activation() != Activation::kGELU)
    throw Error("transformer: the feed-forward activation must be relu or gelu");
  model::EncoderLayerOptions m;
  m.d_model = o.d_model();
  m.nhead = o.nhead();
  m.dim_feedforward = o.dim_feedforward() > 0 ? o.dim_feedforward() : o.d_model();
  m.dropout = o.dropout();
  m.gelu = o.activation() == Activation::kGELU;
  m.norm = o.norm_first() ? model::NormScheme::kPreLN : model::NormScheme::kPost;
  return m;
}

TransformerEncoderImpl::TransformerEncoderImpl(const TransformerOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  const model::EncoderLayerOptions lo = layer_options(o);
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    layer_list.emplace_back(lo);
    layers->push_back(layer_list.back());
  }
}

at::Tensor TransformerEncoderImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& pad_mask) {
  at::Tensor h = x;
  for (auto& layer : layer_list) h = layer->forward(h, pad_mask);
  if (!is_training() && pad_mask.defined()) h = h.masked_fill(pad_mask.unsqueeze(-1), 0.0);
  return h;
}

}  // namespace scfm::model::scbench
