#include "scfm/model/scbench/transformer.h"

#include <ATen/ops/dropout.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>
#include <torch/nn/init.h>

#include <cmath>
#include <limits>

#include "scfm/model/attention.h"
#include "scfm/util/error.h"

namespace scfm::model::scbench {

SelfAttentionImpl::SelfAttentionImpl(int64_t e, int64_t h, double p) : embed_dim(e), num_heads(h), dropout(p) {
  if (e <= 0 || h <= 0 || e % h != 0)
    throw Error("transformer: embed_dim " + std::to_string(e) + " must be a positive multiple of nheads " +
                std::to_string(h));
  in_proj_weight = register_parameter("in_proj_weight", at::zeros({3 * e, e}));
  in_proj_bias = register_parameter("in_proj_bias", at::zeros({3 * e}));
  out_proj = register_module("out_proj", torch::nn::Linear(e, e));
  // PyTorch's MultiheadAttention._reset_parameters.
  c10::AutoGradMode no_grad(false);
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  if (!c10::GradMode::is_enabled() && !(dropout > 0 && is_training()))  // inference: the cache-friendly kernel
    return out_proj->forward(self_attention_inference(at::linear(x, in_proj_weight, in_proj_bias), num_heads, key_padding_mask));
  const int64_t B = x.size(0), T = x.size(1), D = embed_dim / num_heads;
  auto qkv = at::linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);
  auto heads = [&](const at::Tensor& t) { return t.reshape({B, T, num_heads, D}).transpose(1, 2); };
  at::Tensor q = heads(qkv[0]) / std::sqrt(static_cast<double>(D));
  at::Tensor k = heads(qkv[1]), v = heads(qkv[2]);
  at::Tensor scores = q.matmul(k.transpose(-2, -1));  // B x H x T x T
  if (key_padding_mask.defined())
    scores = scores.masked_fill(key_padding_mask.view({B, 1, 1, T}), -std::numeric_limits<float>::infinity());
  at::Tensor attn = at::softmax(scores, -1);
  if (dropout > 0 && is_training()) attn = at::dropout(attn, dropout, true);
  at::Tensor out = attn.matmul(v).transpose(1, 2).reshape({B, T, embed_dim});
  return out_proj->forward(out);
}

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
  auto drop = [&](const at::Tensor& t) { return p > 0 && train ? at::dropout(t, p, true) : t; };
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
