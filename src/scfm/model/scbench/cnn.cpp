#include "scfm/model/scbench/cnn.h"

#include "scfm/model/dropout.h"
#include <ATen/ops/gelu.h>
#include <ATen/ops/max_pool1d.h>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

Conv1DLayerImpl::Conv1DLayerImpl(int64_t channels, int64_t s) : stride(s) {
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 9).padding(4).stride(s)));
  bn = register_module("bn", torch::nn::BatchNorm1d(channels));
}

at::Tensor Conv1DLayerImpl::forward(const at::Tensor& x) { return bn->forward(conv->forward(x)); }

CnnImpl::CnnImpl(const CnnOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    convs.emplace_back(o.channels(), i % 6 == 0 ? 1 : 2);
    layers->push_back(convs.back());
  }
}

void CnnImpl::check_length(int64_t tokens) const {
  int64_t n = tokens;
  for (size_t i = 0; i < convs.size(); ++i) {
    if (convs[i]->stride == 2) {
      if (n % 2 != 0)
        throw Error("cnn: layer " + std::to_string(i) + " halves the token count and needs it even, but " +
                    std::to_string(tokens) + " input tokens leave " + std::to_string(n) +
                    " there; use a token count divisible by 2^(stride-2 layers)");
      n /= 2;
    }
  }
}

at::Tensor CnnImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& /*pad_mask*/) {
  if (x.dim() != 3) throw Error("cnn: input should have 3 dimensions (B x T x E), but got " + std::to_string(x.dim()));
  check_length(x.size(1));
  at::Tensor h = x.transpose(1, 2);  // B x E x T
  const double p = options.dropout();
  for (auto& layer : convs) {
    at::Tensor identity = layer->stride == 1 ? h : at::max_pool1d(h, {layer->stride}, {layer->stride});
    at::Tensor y = at::gelu(layer->forward(h));
    if (p > 0 && is_training()) y = model::dropout(y, p, true);
    h = y + identity;
  }
  return h.mean(-1);  // AdaptiveAvgPool1d(1), transpose, squeeze: B x E
}

}  // namespace scfm::model::scbench
