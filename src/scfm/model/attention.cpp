#include "scfm/model/attention.h"

#include <ATen/ops/baddbmm.h>
#include <ATen/ops/cat.h>
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
// dropout, times v. It reads q, k and v where the in-projection put them (B x T x 3E, heads side
// by side) and writes the output heads side by side (B x T x E), as strided matrices BLAS takes
// directly, so there is no split into heads, no merge, and in backward one gradient tensor for
// the projection instead of three zero-filled ones summed. Forward keeps no T x T tensor:
// backward recomputes each (cell, head)'s scores and probabilities (one extra q k^T product) and
// regenerates the dropout mask from the seed, so memory holds the projection and the output
// rather than B x H x T x T scores, probabilities and mask, and every T x T pass runs on a block
// that stays in this core's cache. The (cell, head) pairs are spread over the intra-op threads;
// within a pair the products are single-threaded BLAS calls.
struct AttentionTraining : torch::autograd::Function<AttentionTraining> {
  // qkv: B x T x 3E contiguous float32 ([q | k | v], each H heads of D); bias: B x T additive
  // (0 / -inf). Returns B x T x E.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv, const at::Tensor& bias,
                            int64_t H, double p) {
    const int64_t B = qkv.size(0), T = qkv.size(1), E = qkv.size(2) / 3, D = E / H;
    const uint64_t seed = p > 0 ? draw_dropout_seed() : 0;
    const at::Tensor keys = dropout_cell_keys(B);
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    ctx->saved_data["H"] = H;
    ctx->saved_data["keys"] = keys;
    ctx->save_for_backward({qkv, bias});
    const int64_t* key = keys.data_ptr<int64_t>();
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor out = at::empty({B, T, E}, qkv.options());
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      at::Tensor s = at::empty({T, T}, qkv.options()), prob = at::empty({T, T}, qkv.options());
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const at::Tensor cell = qkv[b];
        scores(head(cell, 0, h, E, D), head(cell, 1, h, E, D), bias, b, scale, s);
        at::_softmax_out(prob, s, 1, false);
        if (p > 0) drop(prob, seed, key[b], h, p);
        at::Tensor o = out[b].narrow(1, h * D, D);
        at::mm_out(o, prob, head(cell, 2, h, E, D));
      }
    });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &qkv = saved[0], &bias = saved[1];
    const auto seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    const double p = ctx->saved_data["p"].toDouble();
    const int64_t H = ctx->saved_data["H"].toInt();
    const at::Tensor keys = ctx->saved_data["keys"].toTensor();
    const int64_t* key = keys.data_ptr<int64_t>();
    const at::Tensor dout = grads[0].contiguous();
    const int64_t B = qkv.size(0), T = qkv.size(1), E = qkv.size(2) / 3, D = E / H;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    at::Tensor dqkv = at::empty_like(qkv);
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      at::Tensor s = at::empty({T, T}, qkv.options()), prob = at::empty({T, T}, qkv.options());
      at::Tensor g = at::empty({T, T}, qkv.options());
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const at::Tensor cell = qkv[b], dcell = dqkv[b];
        const at::Tensor qb = head(cell, 0, h, E, D), kb = head(cell, 1, h, E, D), vb = head(cell, 2, h, E, D);
        const at::Tensor gb = dout[b].narrow(1, h * D, D);
        scores(qb, kb, bias, b, scale, s);
        at::_softmax_out(prob, s, 1, false);
        // s <- the dropped probabilities; dv = dropped^T dout
        s.copy_(prob);
        if (p > 0) drop(s, seed, key[b], h, p);
        at::Tensor dvb = head(dcell, 2, h, E, D);
        at::mm_out(dvb, s.t(), gb);
        // g <- d(dropped) = dout v^T, then d(prob) through the same mask
        at::mm_out(g, gb, vb.t());
        if (p > 0) drop(g, seed, key[b], h, p);
        // s <- d(scores) = prob * (g - rowsum(prob * g))
        at::_softmax_backward_data_out(s, g, prob, 1, at::kFloat);
        at::Tensor dqb = head(dcell, 0, h, E, D), dkb = head(dcell, 1, h, E, D);
        at::addmm_out(dqb, dqb, s, kb, 0.0, scale);
        at::addmm_out(dkb, dkb, s.t(), qb, 0.0, scale);
      }
    });
    return {dqkv, at::Tensor(), at::Tensor(), at::Tensor()};
  }

  // Dropout on one (cell, head)'s T x T block: element (i, j) is index (h * 2^20 + i) * 2^20 + j
  // of the cell's row seed, so the mask of a query-key pair does not depend on the padded length.
  static void drop(at::Tensor& m, uint64_t seed, int64_t cell_key, int64_t h, double p) {
    const int64_t T = m.size(0);
    const uint64_t rs = dropout_row_seed(seed, cell_key);
    float* d = m.data_ptr<float>();
    for (int64_t i = 0; i < T; ++i)
      apply_keyed_dropout(d + i * T, T, rs, ((static_cast<uint64_t>(h) << 20) + static_cast<uint64_t>(i)) << 20, p);
  }

  // head h of part (0 q, 1 k, 2 v) of one cell's T x 3E projection: T x D, row stride 3E
  static at::Tensor head(const at::Tensor& cell, int64_t part, int64_t h, int64_t E, int64_t D) {
    return cell.narrow(1, part * E + h * D, D);
  }

  // s = q k^T * scale + bias[b] (broadcast over the query rows)
  static void scores(const at::Tensor& q, const at::Tensor& k, const at::Tensor& bias, int64_t b, double scale,
                     at::Tensor& s) {
    at::addmm_out(s, bias[b].unsqueeze(0).expand_as(s), q, k.t(), 1.0, scale);
  }
};

// always a tensor (autograd's Function takes no undefined inputs): 0 where keys take part
at::Tensor key_bias(const at::Tensor& key_padding_mask, int64_t B, int64_t T, const at::TensorOptions& options) {
  at::Tensor bias = at::zeros({B, T}, options);
  if (key_padding_mask.defined()) bias.masked_fill_(key_padding_mask, -std::numeric_limits<float>::infinity());
  return bias;
}

}  // namespace

at::Tensor self_attention_training_packed(const at::Tensor& qkv, int64_t num_heads, const at::Tensor& key_padding_mask,
                                          double dropout_p) {
  return AttentionTraining::apply(qkv.contiguous(), key_bias(key_padding_mask, qkv.size(0), qkv.size(1), qkv.options()),
                                  num_heads, dropout_p);
}

at::Tensor self_attention_training(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& key_padding_mask, double dropout_p) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  auto merge = [&](const at::Tensor& t) { return t.permute({0, 2, 1, 3}).reshape({B, T, H * D}); };
  at::Tensor out = self_attention_training_packed(at::cat({merge(q), merge(k), merge(v)}, 2), H, key_padding_mask,
                                                  dropout_p);
  return out.view({B, T, H, D}).permute({0, 2, 1, 3});
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
  const double p = is_training() ? dropout_p : 0.0;
#if TORCH_VERSION_MAJOR < 2
  if (x.is_cpu() && x.scalar_type() == at::kFloat)  // training on the CPU: straight from the packed projection
    return out_proj(self_attention_training_packed(at::linear(x, in_proj_weight, in_proj_bias), H, key_padding_mask, p));
#endif
  // (B, L, 3E) -> (3, B, H, L, D)
  at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias).view({B, L, 3, H, D}).permute({2, 0, 3, 1, 4});
  at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels where available; boolean mask: true = take part.
  c10::optional<at::Tensor> mask;
  if (key_padding_mask.defined()) mask = key_padding_mask.logical_not().view({B, 1, 1, L});
  out = at::scaled_dot_product_attention(q, k, v, mask, p, false);
#else
  // PyTorch 1.13's standard path (other devices and dtypes): q scaled first, -inf at padded keys,
  // softmax, dropout.
  at::Tensor scores = at::matmul(q / std::sqrt(static_cast<double>(D)), k.transpose(-2, -1));
  if (key_padding_mask.defined())
    scores = scores.masked_fill(key_padding_mask.view({B, 1, 1, L}), -std::numeric_limits<float>::infinity());
  at::Tensor attn = at::softmax(scores, -1);
  if (p > 0) attn = at::dropout(attn, p, true);
  out = at::matmul(attn, v);
#endif
  return out_proj(out.transpose(1, 2).reshape({B, L, E}));
}

}  // namespace scfm::model
