#include "scfm/model/scbench/linear.h"

#include <ATen/Parallel.h>
#include <ATen/ops/adaptive_avg_pool1d.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/outer.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/relu.h>

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

Linear1DLayerImpl::Linear1DLayerImpl(int64_t channels, int64_t in_length, int64_t out_length) {
  linear_channel = register_module("linear_channel", torch::nn::Linear(channels, channels));
  linear_seq = register_module("linear_seq", torch::nn::Linear(in_length, out_length));
  bn = register_module("bn", torch::nn::BatchNorm1d(channels));
}

// The original applies linear_channel (E -> E) to every token, then linear_seq (L -> L') along the
// token axis of a transposed B x E x L view, then BatchNorm1d over E. Two changes, same function:
// - The two linear maps act on different axes, so they commute:
//     Wseq (h Wch^T + 1 b_ch^T) + b_seq 1^T = (Wseq h) Wch^T + (Wseq 1) b_ch^T + b_seq 1^T,
//   and mixing tokens first runs the channel GEMM on L' = L / 2 tokens instead of L (it was two
//   thirds of the layer's arithmetic; values equal to float rounding, gradients by autograd).
// - linear_seq is one GEMM over all cells and channels, W (L' x L) times the input laid out
//   L x (B * E), or (B * E) x L when the previous block left it B x E x L (no copy then), instead
//   of matmul's bmm with the weight expanded over the batch (and a batch sum for its gradient).
// The batch norm gets the B x E x L' layout the original hands it. (A batch norm over B * L' rows
// of E, the same statistics without that copy, met a LibTorch 1.13 batch-norm backward that read
// uninitialised memory when the incoming gradient was strided.)
at::Tensor Linear1DLayerImpl::forward(const at::Tensor& x) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2);
  const at::Tensor& ws = linear_seq->weight;
  const int64_t out = ws.size(0);
  at::Tensor u;  // B x L' x E: the tokens mixed
  if (x.transpose(1, 2).is_contiguous())
    u = at::mm(x.transpose(1, 2).reshape({B * E, L}), ws.t()).view({B, E, out}).transpose(1, 2);
  else
    u = at::mm(ws, x.transpose(0, 1).reshape({L, B * E})).view({out, B, E}).transpose(0, 1);
  const at::Tensor bias = at::outer(ws.sum(1), linear_channel->bias) + linear_seq->bias.unsqueeze(1);  // L' x E
  // contiguous: linear on a strided 3-D input is a bmm with the weight expanded over the batch
  const at::Tensor z = at::linear(u.contiguous(), linear_channel->weight) + bias;
  return bn->forward(z.transpose(1, 2).contiguous()).transpose(1, 2);  // B x L' x E
}

namespace {

// adaptive_avg_pool1d along the tokens of a B x L x E tensor whose windows are uniform,
// [s i, s i + k) for i < L' (as in every linear_ours layer: pairs when L is even, [2i, 2i + 3) for
// L = 2 L' + 1, all L tokens for L' = 1), laid out either B x L x E or B x E x L (what the previous
// block hands over). LibTorch's adaptive pooling goes through a generic 2-D kernel and a scattering
// backward: 6% of a linear_ours step. Sums run in the same order and are divided by k as there.
struct TokenPool : torch::autograd::Function<TokenPool> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h, int64_t s, int64_t k,
                            int64_t out) {
    const int64_t B = h.size(0), L = h.size(1), E = h.size(2);
    const bool tokens_inner = h.transpose(1, 2).is_contiguous();  // memory B x E x L
    ctx->saved_data["s"] = s;
    ctx->saved_data["k"] = k;
    ctx->saved_data["L"] = L;
    ctx->saved_data["tokens_inner"] = tokens_inner;
    const float window = static_cast<float>(k);  // tokens per window
    if (tokens_inner) {
      const at::Tensor x = h.transpose(1, 2);
      at::Tensor y = at::empty({B, E, out}, h.options());
      const float* xp = x.data_ptr<float>();
      float* yp = y.data_ptr<float>();
      at::parallel_for(0, B * E, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r)
          for (int64_t i = 0; i < out; ++i) {
            float acc = 0.f;
            for (int64_t j = 0; j < k; ++j) acc += xp[r * L + s * i + j];
            yp[r * out + i] = acc / window;
          }
      });
      return y.transpose(1, 2);
    }
    const at::Tensor x = h.contiguous();
    at::Tensor y = at::empty({B, out, E}, h.options());
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, B * out, 4, [&](int64_t begin, int64_t end) {
      for (int64_t bi = begin; bi < end; ++bi) {
        const int64_t b = bi / out, i = bi % out;
        float* o = yp + bi * E;
        std::fill(o, o + E, 0.f);
        for (int64_t j = 0; j < k; ++j) {
          const float* row = xp + (b * L + s * i + j) * E;
          for (int64_t e = 0; e < E; ++e) o[e] += row[e];
        }
        for (int64_t e = 0; e < E; ++e) o[e] /= window;
      }
    });
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t s = ctx->saved_data["s"].toInt(), k = ctx->saved_data["k"].toInt(), L = ctx->saved_data["L"].toInt();
    const bool tokens_inner = ctx->saved_data["tokens_inner"].toBool();
    const at::Tensor& g = grads[0];  // B x L' x E
    const int64_t B = g.size(0), out = g.size(1), E = g.size(2);
    const float window = static_cast<float>(k);  // tokens per window
    // as LibTorch's backward: for each window in order, its gradient / k added to its tokens
    at::Tensor gx;
    if (tokens_inner) {
      const at::Tensor gt = g.transpose(1, 2).contiguous();  // B x E x L'
      at::Tensor gxm = at::empty({B, E, L}, g.options());
      const float* gp = gt.data_ptr<float>();
      float* xp = gxm.data_ptr<float>();
      at::parallel_for(0, B * E, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          float* o = xp + r * L;
          std::fill(o, o + L, 0.f);
          for (int64_t i = 0; i < out; ++i) {
            const float v = gp[r * out + i] / window;
            for (int64_t j = 0; j < k; ++j) o[s * i + j] += v;
          }
        }
      });
      gx = gxm.transpose(1, 2);
    } else {
      const at::Tensor gc = g.contiguous();
      gx = at::zeros({B, L, E}, g.options());
      const float* gp = gc.data_ptr<float>();
      float* xp = gx.data_ptr<float>();
      at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b)
          for (int64_t i = 0; i < out; ++i) {
            const float* row = gp + (b * out + i) * E;
            for (int64_t j = 0; j < k; ++j) {
              float* o = xp + (b * L + s * i + j) * E;
              for (int64_t e = 0; e < E; ++e) o[e] += row[e] / window;
            }
          }
      });
    }
    return {gx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor pool_tokens(const at::Tensor& h, int64_t out) {
  const int64_t L = h.size(1);
  const int64_t s = out > 1 ? L / out : 0, k = (L + out - 1) / out;
  bool uniform = h.device().is_cpu() && h.scalar_type() == at::kFloat;
  for (int64_t i = 0; uniform && i < out; ++i)  // adaptive windows: [floor(i L / L'), ceil((i + 1) L / L'))
    uniform = (i * L) / out == s * i && ((i + 1) * L + out - 1) / out == s * i + k;
  if (!uniform) return at::adaptive_avg_pool1d(h.transpose(1, 2), {out}).transpose(1, 2);
  return TokenPool::apply(h, s, k, out);
}

LinearOursImpl::LinearOursImpl(const LinearOursOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  int64_t length = o.seq_length();
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    const int64_t out = i == o.num_layers() - 1 ? 1 : length / 2;
    if (out < 1)
      throw Error("linear_ours: " + std::to_string(o.num_layers()) + " layers halve " +
                  std::to_string(o.seq_length()) + " tokens to none before the last layer; use fewer layers "
                  "or a longer train_maxseq");
    blocks.emplace_back(o.channels(), length, out);
    layers->push_back(blocks.back());
    length = out;
  }
}

at::Tensor LinearOursImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& /*pad_mask*/) {
  if (x.dim() != 3 || x.size(1) != options.seq_length())
    throw Error("linear_ours: input must be B x " + std::to_string(options.seq_length()) + " x E (train_maxseq + 1 "
                "tokens), got " + std::to_string(x.dim() == 3 ? x.size(1) : -1) + " tokens");
  at::Tensor h = x;
  for (auto& block : blocks) {
    at::Tensor y = at::gelu(block->forward(h));
    at::Tensor identity = pool_tokens(h, y.size(1));
    h = y + identity;
  }
  return h.squeeze(1);  // B x E
}

FfnImpl::FfnImpl(int64_t features) {
  fc1 = register_module("fc1", torch::nn::Linear(features, features));
  fc2 = register_module("fc2", torch::nn::Linear(features, features));
}

at::Tensor FfnImpl::forward(const at::Tensor& x) { return fc2->forward(at::relu(fc1->forward(x))); }

LinearBaseImpl::LinearBaseImpl(const LinearBaseOptions& o) : options(o) {
  ffns = register_module("ffns", torch::nn::ModuleList());
  layer_norms = register_module("layer_norms", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    ffn_list.emplace_back(o.features());
    ffns->push_back(ffn_list.back());
    norms.emplace_back(torch::nn::LayerNormOptions({o.features()}));
    layer_norms->push_back(norms.back());
  }
}

at::Tensor LinearBaseImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& /*pad_mask*/) {
  at::Tensor h = x;
  for (size_t i = 0; i < ffn_list.size(); ++i) h = at::gelu(norms[i]->forward(ffn_list[i]->forward(h))) + h;
  return h;
}

}  // namespace scfm::model::scbench
