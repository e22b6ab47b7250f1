#include "scfm/model/value_mlp.h"

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace scfm::model {
namespace {

// The pieces of one batch: tokens in ascending value order, cut at the ranks where some unit
// switches on or off.
struct Pieces {
  at::Tensor order;    // N int64: token indices in ascending value order (ties in token order)
  at::Tensor bounds;   // S + 1 int64: 0 = b_0 < b_1 < ... < b_S = N, piece s = ranks [b_s, b_{s+1})
  at::Tensor active;   // S x d double: 1 where unit j is active on piece s
};

Pieces make_pieces(const float* x, int64_t n, const float* w1, const float* b1, int64_t d) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [x](int64_t i, int64_t j) { return x[i] < x[j]; });
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t q = 0; q < n; ++q) v[q] = x[order[q]];

  // A unit's activity, fl(x * w + b) > 0, is monotone in x (rounding is monotone), so its
  // active tokens are a suffix (w > 0) or a prefix (w < 0) of the sorted values.
  std::vector<int64_t> rank(static_cast<size_t>(d));
  std::vector<char> rising(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) {
    const float w = w1[j], b = b1[j];
    if (w > 0) {
      rising[j] = 1;
      rank[j] = std::partition_point(v.begin(), v.end(), [=](float xv) { return !(xv * w + b > 0.f); }) - v.begin();
    } else if (w < 0) {
      rising[j] = 0;
      rank[j] = std::partition_point(v.begin(), v.end(), [=](float xv) { return xv * w + b > 0.f; }) - v.begin();
    } else {
      rising[j] = 1;
      rank[j] = b > 0 ? 0 : n;
    }
  }
  std::vector<int64_t> cuts(rank);
  cuts.push_back(0);
  cuts.push_back(n);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  const int64_t S = static_cast<int64_t>(cuts.size()) - 1;

  Pieces p;
  p.active = at::zeros({S, d}, at::kDouble);
  double* m = p.active.data_ptr<double>();
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < d; ++j)
      m[s * d + j] = rising[j] ? (cuts[s] >= rank[j]) : (cuts[s + 1] <= rank[j]);
  p.order = at::empty({n}, at::kLong);
  std::copy(order.begin(), order.end(), p.order.data_ptr<int64_t>());
  p.bounds = at::empty({S + 1}, at::kLong);
  std::copy(cuts.begin(), cuts.end(), p.bounds.data_ptr<int64_t>());
  return p;
}

// x A + C per piece, A = (m diag(w1)) W2^T, C = (m diag(b1)) W2^T + b2, in double.
std::pair<at::Tensor, at::Tensor> piece_lines(const at::Tensor& active, const at::Tensor& w1, const at::Tensor& b1,
                                              const at::Tensor& w2, const at::Tensor& b2) {
  const at::Tensor w2t = w2.to(at::kDouble).t();
  const at::Tensor slope = at::mm(active * w1.to(at::kDouble).view({1, -1}), w2t);
  const at::Tensor offset = at::mm(active * b1.to(at::kDouble).view({1, -1}), w2t) + b2.to(at::kDouble).view({1, -1});
  return {slope.to(at::kFloat).contiguous(), offset.to(at::kFloat).contiguous()};
}

struct ScalarReluMlp : torch::autograd::Function<ScalarReluMlp> {
  // x: N float32 contiguous (needs no gradient); returns N x d_out.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w1,
                            const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2) {
    const int64_t n = x.numel(), d = w1.size(0), d_out = w2.size(0);
    const at::Tensor w1c = w1.contiguous(), b1c = b1.contiguous();
    Pieces p = make_pieces(x.data_ptr<float>(), n, w1c.data_ptr<float>(), b1c.data_ptr<float>(), d);
    auto [slope, offset] = piece_lines(p.active, w1c, b1c, w2, b2);

    at::Tensor y = at::empty({n, d_out}, x.options());
    const float* xv = x.data_ptr<float>();
    const float* A = slope.data_ptr<float>();
    const float* C = offset.data_ptr<float>();
    const int64_t* order = p.order.data_ptr<int64_t>();
    const int64_t* bounds = p.bounds.data_ptr<int64_t>();
    float* out = y.data_ptr<float>();
    at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
      int64_t s = std::upper_bound(bounds, bounds + p.bounds.numel(), begin) - bounds - 1;
      for (int64_t q = begin; q < end; ++q) {
        while (q >= bounds[s + 1]) ++s;
        const float* a = A + s * d_out;
        const float* c = C + s * d_out;
        const int64_t t = order[q];
        const float xt = xv[t];
        float* o = out + t * d_out;
        for (int64_t i = 0; i < d_out; ++i) o[i] = xt * a[i] + c[i];
      }
    });
    ctx->saved_data["order"] = p.order;
    ctx->saved_data["bounds"] = p.bounds;
    ctx->saved_data["active"] = p.active;
    ctx->save_for_backward({x, w1c, b1c, w2});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor w1 = saved[1].to(at::kDouble), b1 = saved[2].to(at::kDouble), w2 = saved[3].to(at::kDouble);
    const at::Tensor order_t = ctx->saved_data["order"].toTensor();
    const at::Tensor bounds_t = ctx->saved_data["bounds"].toTensor();
    const at::Tensor active = ctx->saved_data["active"].toTensor();
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    const at::Tensor g = grads[0].contiguous().to(at::kFloat);
    const int64_t S = bounds_t.numel() - 1, d_out = g.size(1);

    // Per piece, the sums of g and of x g over its tokens, in value order. The threads split the
    // output columns, so every sum runs in the same order at any thread count.
    at::Tensor sum_g = at::zeros({S, d_out}, at::kDouble), sum_xg = at::zeros({S, d_out}, at::kDouble);
    const float* xv = x.data_ptr<float>();
    const float* gv = g.data_ptr<float>();
    const int64_t* order = order_t.data_ptr<int64_t>();
    const int64_t* bounds = bounds_t.data_ptr<int64_t>();
    double* P = sum_g.data_ptr<double>();
    double* Q = sum_xg.data_ptr<double>();
    at::parallel_for(0, d_out, 16, [&](int64_t begin, int64_t end) {
      std::vector<double> pg(static_cast<size_t>(end - begin)), qg(static_cast<size_t>(end - begin));
      for (int64_t s = 0; s < S; ++s) {
        std::fill(pg.begin(), pg.end(), 0.0);
        std::fill(qg.begin(), qg.end(), 0.0);
        for (int64_t q = bounds[s]; q < bounds[s + 1]; ++q) {
          const int64_t t = order[q];
          const double xt = xv[t];
          const float* gt = gv + t * d_out + begin;
          for (int64_t i = 0; i < end - begin; ++i) {
            pg[i] += gt[i];
            qg[i] += xt * gt[i];
          }
        }
        std::copy(pg.begin(), pg.end(), P + s * d_out + begin);
        std::copy(qg.begin(), qg.end(), Q + s * d_out + begin);
      }
    });
    // Over each unit's active pieces: sx[i, j] = sum of x g_i, s1[i, j] = sum of g_i. Then
    // dW2[i, j] = w1_j sx + b1_j s1, dw1_j = sum_i W2[i, j] sx[i, j], db1_j = sum_i W2[i, j] s1[i, j].
    const at::Tensor sx = at::mm(sum_xg.t(), active), s1 = at::mm(sum_g.t(), active);
    const at::Tensor dw2 = sx * w1.view({1, -1}) + s1 * b1.view({1, -1});
    const at::Tensor dw1 = (w2 * sx).sum(0).view({-1, 1});
    const at::Tensor db1 = (w2 * s1).sum(0);
    const at::Tensor db2 = sum_g.sum(0);
    return {at::Tensor(), dw1.to(at::kFloat), db1.to(at::kFloat), dw2.to(at::kFloat), db2.to(at::kFloat)};
  }
};

bool all_finite(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const float* p = c.data_ptr<float>();
  for (int64_t i = 0, n = c.numel(); i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

}  // namespace

at::Tensor scalar_relu_mlp(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                           const at::Tensor& b2) {
  const bool shapes = x.dim() >= 1 && x.size(-1) == 1 && w1.dim() == 2 && w1.size(1) == 1 && b1.dim() == 1 &&
                      b1.size(0) == w1.size(0) && w2.dim() == 2 && w2.size(1) == w1.size(0) && b2.dim() == 1 &&
                      b2.size(0) == w2.size(0);
  bool piecewise = shapes && x.numel() > 0 && !x.requires_grad();
  for (const at::Tensor* t : {&x, &w1, &b1, &w2, &b2})
    piecewise = piecewise && t->device().is_cpu() && t->scalar_type() == at::kFloat;
  piecewise = piecewise && all_finite(x) && all_finite(w1) && all_finite(b1) && all_finite(w2) && all_finite(b2);
  if (!piecewise) return at::linear(at::relu(at::linear(x, w1, b1)), w2, b2);

  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = w2.size(0);
  return ScalarReluMlp::apply(x.reshape({-1}).contiguous(), w1, b1, w2, b2).view(out_shape);
}

}  // namespace scfm::model
