#include "scfm/model/scbench/transformer.h"

#include "scfm/model/dropout.h"
#include <ATen/ops/linear.h>


#include "scfm/util/error.h"

namespace scfm::model::scbench {

TransformerLayerImpl::TransformerLayerImpl(const TransformerOptions& o) : options(o) {
  const int64_t ff = o.dim_feedforward() > 0 ? o.dim_feedforward() : o.d_model();
  self_attn = register_module("self_attn", SelfAttention(o.d_model(), o.nhead(), o.dropout()));
  linear1 = register_module("linear1", torch::nn::Linear(o.d_model(), ff));
  linear2 = register_module("linear2", torch::nn::Linear(ff, o.d_model()));
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()}).eps(1e-5)));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()}).eps(1e-5)));
}

at::Tensor TransformerLayerImpl::forward(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  const double p = options.dropout();
  const bool train = is_training();
  auto drop = [&](const at::Tensor& t) { return p > 0 && train ? model::dropout(t, p, true) : t; };
  auto sa = [&](const at::Tensor& t) { return drop(self_attn->forward(t, key_padding_mask)); };
  auto ff = [&](const at::Tensor& t) {
    return drop(linear2->forward(drop(activate(linear1->forward(t), options.activation()))));
  };
  if (options.norm_first()) {
    at::Tensor h = x + sa(norm1->forward(x));
    return h + ff(norm2->forward(h));
  }
  at::Tensor h = norm1->forward(x + sa(x));
  return norm2->forward(h + ff(h));
}

TransformerEncoderImpl::TransformerEncoderImpl(const TransformerOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    layer_list.emplace_back(o);
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
