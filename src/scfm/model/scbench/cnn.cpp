#include "scfm/model/scbench/cnn.h"

#include "scfm/model/dropout.h"
#include <ATen/ops/gelu.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/max_pool1d.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

Conv1DLayerImpl::Conv1DLayerImpl(int64_t channels, int64_t s) : stride(s) {
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 9).padding(4).stride(s)));
  bn = register_module("bn", torch::nn::BatchNorm1d(channels));
}

at::Tensor Conv1DLayerImpl::forward(const at::Tensor& x) { return bn->forward(conv->forward(x)); }

namespace {

// max_pool1d(h, 2, 2) of a contiguous B x E x L tensor (L even), as the original's
// MaxPool1d(2, 2): the larger of each pair, the first on ties, NaN wins. LibTorch's kernel goes
// through a generic 2-D pooling with an index tensor (3% of a cnn_base step); here backward
// recomputes the choice from the input, which the convolution keeps for its own backward anyway.
struct PairMax : torch::autograd::Function<PairMax> {
  // LibTorch's loop takes the later element when it is larger or NaN
  static bool first_wins(float a, float b) { return !(b > a) && !std::isnan(b); }

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h) {
    const at::Tensor x = h.contiguous();
    ctx->save_for_backward({x});
    const int64_t half = x.numel() / 2;
    at::Tensor y = at::empty({x.size(0), x.size(1), x.size(2) / 2}, x.options());
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, half, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) yp[i] = first_wins(xp[2 * i], xp[2 * i + 1]) ? xp[2 * i] : xp[2 * i + 1];
    });
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor g = grads[0].contiguous();
    at::Tensor gx = at::empty_like(x);
    const float* xp = x.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* o = gx.data_ptr<float>();
    at::parallel_for(0, x.numel() / 2, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const bool first = first_wins(xp[2 * i], xp[2 * i + 1]);
        o[2 * i] = first ? gp[i] : 0.f;
        o[2 * i + 1] = first ? 0.f : gp[i];
      }
    });
    return {gx};
  }
};

}  // namespace

at::Tensor max_pool_pairs(const at::Tensor& h) {
  if (h.device().is_cpu() && h.scalar_type() == at::kFloat && h.dim() == 3 && h.size(2) % 2 == 0)
    return PairMax::apply(h);
  return at::max_pool1d(h, {2}, {2});
}

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
    at::Tensor identity = layer->stride == 1 ? h : max_pool_pairs(h);  // stride 2: MaxPool1d(2, 2)
    at::Tensor y = at::gelu(layer->forward(h));
    if (p > 0 && is_training()) y = model::dropout(y, p, true);
    h = y + identity;
  }
  return h.mean(-1);  // AdaptiveAvgPool1d(1), transpose, squeeze: B x E
}

}  // namespace scfm::model::scbench
