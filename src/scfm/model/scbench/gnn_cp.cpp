#include "scfm/model/scbench/gnn_cp.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <limits>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

GraphConvolutionImpl::GraphConvolutionImpl(int64_t in_features, int64_t out_features, int64_t ntoken, int64_t k) {
  if (ntoken <= 0) throw Error("gnn_cp: the vocabulary size must be positive, got " + std::to_string(ntoken));
  factor_linear = register_parameter("factor_linear", at::rand({ntoken, k}));
  factor = register_parameter("factor", at::rand({ntoken, k}));
  linear = register_module("linear", torch::nn::Linear(in_features, out_features));
  linear_trans = register_module("linear_trans", Mlp(std::vector<int64_t>{k, k, k}, Activation::kGELU));
}

at::Tensor GraphConvolutionImpl::forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) {
  at::Tensor f = factor.index_select(0, src.reshape({-1})).view({src.size(0), src.size(1), -1});
  at::Tensor fl = factor_linear.index_select(0, src.reshape({-1})).view({src.size(0), src.size(1), -1});
  at::Tensor ft = linear_trans->forward(fl);
  // adj = ft ft^T + f f^T, as the original, computed as one product [ft | f] [ft | f]^T with the
  // 1/temperature folded into the B x T x 2k factors and the padding mask as baddbmm's additive
  // bias: one B x T x T tensor instead of four (products, sum, mask, scale), forward and backward.
  at::Tensor c = at::cat({ft, f}, 2);
  if (temperature != 1.0) c = c * (1.0 / std::sqrt(temperature));
  at::Tensor adj;
  if (pad_mask.defined()) {
    at::Tensor bias = at::zeros({src.size(0), 1, src.size(1)}, c.options())
                          .masked_fill_(pad_mask.unsqueeze(1), -std::numeric_limits<float>::infinity());
    adj = at::baddbmm(bias, c, c.transpose(1, 2));
  } else {
    adj = at::bmm(c, c.transpose(1, 2));
  }
  at::Tensor w = at::softmax(adj, 2);
  return linear->forward(w.bmm(x));
}

GnnCpImpl::GnnCpImpl(const GnnCpOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  layer_norms = register_module("layer_norms", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    convs.emplace_back(o.hidden(), o.hidden(), o.ntoken(), o.k());
    layers->push_back(convs.back());
    norms.emplace_back(torch::nn::LayerNormOptions({o.hidden()}));
    layer_norms->push_back(norms.back());
  }
}

at::Tensor GnnCpImpl::forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) {
  at::Tensor h = x;
  for (size_t i = 0; i < convs.size(); ++i) {
    at::Tensor y = at::gelu(norms[i]->forward(convs[i]->forward(h, src, pad_mask)));
    h = y + h;
  }
  return h;
}

}  // namespace scfm::model::scbench
