#include "scfm/model/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>

#include <cmath>
#include <limits>

namespace scfm::model {

at::Tensor self_attention_inference(const at::Tensor& qkv_packed, int64_t H, const at::Tensor& key_padding_mask) {
  const int64_t B = qkv_packed.size(0), T = qkv_packed.size(1), E = qkv_packed.size(2) / 3, D = E / H;
  at::Tensor qkv = qkv_packed.view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4}).contiguous();
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];  // B x H x T x D each
  at::Tensor bias;
  if (key_padding_mask.defined())
    bias = at::zeros({B, 1, 1, T}, qkv.options())
               .masked_fill_(key_padding_mask.view({B, 1, 1, T}), -std::numeric_limits<float>::infinity());
  at::Tensor out = at::empty({B, H, T, D}, qkv.options());
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor kt = k[b].transpose(1, 2);
    at::Tensor scores = bias.defined() ? at::baddbmm(bias[b], q[b], kt, 1.0, scale) : at::bmm(q[b], kt).mul_(scale);
    at::Tensor ob = out[b];
    at::bmm_out(ob, at::softmax(scores, -1), v[b]);
  }
  return out.transpose(1, 2).reshape({B, T, E});
}

}  // namespace scfm::model
