#include "scfm/model/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/dropout.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/_softmax.h>
#include <ATen/ops/_softmax_backward_data.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/init.h>
#include <torch/utils.h>
#include <torch/version.h>
#if TORCH_VERSION_MAJOR >= 2
#include <ATen/ops/scaled_dot_product_attention.h>
#endif

#include <cmath>
#include <limits>

#include "scfm/model/dropout.h"
#include "scfm/util/error.h"

namespace scfm::model {
namespace {

// Training attention, one (cell, head) at a time: softmax(q k^T * scale + bias) with keyed
// dropout, times v. Forward keeps no T x T tensor: backward recomputes each (cell, head)'s
// scores and probabilities (one extra q k^T product) and regenerates the dropout mask from the
// seed, so memory holds q, k, v and the output rather than B x H x T x T scores, probabilities
// and mask, and every T x T pass runs on a block that stays in this core's cache. The (cell,
// head) pairs are spread over the intra-op threads; within a pair the products are
// single-threaded BLAS calls.
struct AttentionTraining : torch::autograd::Function<AttentionTraining> {
  // q, k, v: B x H x T x D contiguous float32; bias: B x T additive (0 / -inf).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& bias, double p) {
    const uint64_t seed = p > 0 ? draw_dropout_seed() : 0;
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    ctx->save_for_backward({q, k, v, bias});
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor out = at::empty_like(q);
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      at::Tensor s = at::empty({T, T}, q.options()), prob = at::empty({T, T}, q.options());
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        scores(q[b][h], k[b][h], bias, b, scale, s);
        at::_softmax_out(prob, s, 1, false);
        if (p > 0) apply_keyed_dropout(prob.data_ptr<float>(), T * T, seed, static_cast<uint64_t>(bh * T * T), p);
        at::Tensor o = out[b][h];
        at::mm_out(o, prob, v[b][h]);
      }
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &bias = saved[3];
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    const double p = ctx->saved_data["p"].toDouble();
    const at::Tensor dout = grads[0].contiguous();
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      at::Tensor s = at::empty({T, T}, q.options()), prob = at::empty({T, T}, q.options());
      at::Tensor g = at::empty({T, T}, q.options());
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const uint64_t offset = static_cast<uint64_t>(bh * T * T);
        const at::Tensor qb = q[b][h], kb = k[b][h], vb = v[b][h], gb = dout[b][h];
        scores(qb, kb, bias, b, scale, s);
        at::_softmax_out(prob, s, 1, false);
        // s <- the dropped probabilities; dv = dropped^T dout
        s.copy_(prob);
        if (p > 0) apply_keyed_dropout(s.data_ptr<float>(), T * T, seed, offset, p);
        at::Tensor dvb = dv[b][h];
        at::mm_out(dvb, s.t(), gb);
        // g <- d(dropped) = dout v^T, then d(prob) through the same mask
        at::mm_out(g, gb, vb.t());
        if (p > 0) apply_keyed_dropout(g.data_ptr<float>(), T * T, seed, offset, p);
        // s <- d(scores) = prob * (g - rowsum(prob * g))
        at::_softmax_backward_data_out(s, g, prob, 1, at::kFloat);
        at::Tensor dqb = dq[b][h], dkb = dk[b][h];
        at::mm_out(dqb, s, kb).mul_(scale);
        at::mm_out(dkb, s.t(), qb).mul_(scale);
      }
    });
    return {dq, dk, dv, at::Tensor(), at::Tensor()};
  }

  // s = q k^T * scale + bias[b] (broadcast over the query rows)
  static void scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& bias, int64_t b, double scale,
                     at::Tensor& s) {
    at::addmm_out(s, bias[b].unsqueeze(0).expand_as(s), q, k.t(), 1.0, scale);
  }
};

}  // namespace

at::Tensor self_attention_training(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_padding_mask, double dropout_p) {
  // always a tensor (autograd's Function takes no undefined inputs): 0 where keys take part
  at::Tensor bias = at::zeros({q.size(0), q.size(2)}, q.options());
  if (key_padding_mask.defined()) bias.masked_fill_(key_padding_mask, -std::numeric_limits<float>::infinity());
  return AttentionTraining::apply(q.contiguous(), k.contiguous(), v.contiguous(), bias, dropout_p);
}

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

SelfAttentionImpl::SelfAttentionImpl(int64_t e, int64_t h, double dropout)
    : embed_dim(e), num_heads(h), dropout_p(dropout) {
  if (e <= 0 || h <= 0 || e % h != 0)
    throw Error("attention: embed_dim " + std::to_string(e) + " must be a positive multiple of num_heads " +
                std::to_string(h));
  // PyTorch's nn.MultiheadAttention initialisation.
  in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * e, e}));
  in_proj_bias = register_parameter("in_proj_bias", at::zeros({3 * e}));
  out_proj = register_module("out_proj", torch::nn::Linear(e, e));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

at::Tensor SelfAttentionImpl::forward(const at::Tensor& x, const at::Tensor& key_padding_mask) {
  const int64_t B = x.size(0), L = x.size(1), E = embed_dim, H = num_heads, D = E / H;
#if TORCH_VERSION_MAJOR < 2
  if (!c10::GradMode::is_enabled() && !(dropout_p > 0 && is_training()))  // inference: the cache-friendly kernel
    return out_proj(self_attention_inference(at::linear(x, in_proj_weight, in_proj_bias), H, key_padding_mask));
#endif
  // (B, L, 3E) -> (3, B, H, L, D)
  at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias).view({B, L, 3, H, D}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  const double p = is_training() ? dropout_p : 0.0;
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels where available; boolean mask: true = take part.
  c10::optional<at::Tensor> mask;
  if (key_padding_mask.defined()) mask = key_padding_mask.logical_not().view({B, 1, 1, L});
  out = at::scaled_dot_product_attention(q, k, v, mask, p, false);
#else
  if (x.is_cpu() && x.scalar_type() == at::kFloat) {
    out = self_attention_training(q, k, v, key_padding_mask, p);
  } else {
    // PyTorch 1.13's standard path: q scaled first, -inf at padded keys, softmax, dropout.
    at::Tensor scores = at::matmul(q / std::sqrt(static_cast<double>(D)), k.transpose(-2, -1));
    if (key_padding_mask.defined())
      scores = scores.masked_fill(key_padding_mask.view({B, 1, 1, L}), -std::numeric_limits<float>::infinity());
    at::Tensor attn = at::softmax(scores, -1);
    if (p > 0) attn = at::dropout(attn, p, true);
    out = at::matmul(attn, v);
  }
#endif
  return out_proj(out.transpose(1, 2).reshape({B, L, E}));
}

}  // namespace scfm::model
