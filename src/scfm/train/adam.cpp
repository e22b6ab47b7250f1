#include "scfm/train/adam.h"

#include <ATen/Parallel.h>
#include <ATen/ops/zeros_like.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <memory>

namespace scfm::train {
namespace {

// p -= step_size * m / (sqrt(v) / sqrt_bc2 + eps) after the moment updates, as Adam::step
// (exp_avg.mul_(b1).add_(g, 1 - b1); exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2);
// denom = exp_avg_sq.sqrt() / sqrt(bc2) + eps; p.addcdiv_(exp_avg, denom, -step_size)).
__attribute__((target_clones("avx2", "default"), optimize("no-math-errno"))) void adam_kernel(
    float* p, const float* g, float* m, float* v, int64_t n, float b1, float one_minus_b1, float b2,
    float one_minus_b2, float inv_sqrt_bc2, float eps, float neg_step_size) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * b1 + one_minus_b1 * gi;
    const float vi = v[i] * b2 + one_minus_b2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] += neg_step_size * (mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps));
  }
}

bool fusable(const at::Tensor& p, const at::Tensor& g) {
  return p.is_cpu() && p.scalar_type() == at::kFloat && p.is_contiguous() && g.scalar_type() == at::kFloat &&
         g.is_contiguous() && g.sizes() == p.sizes();
}

}  // namespace

void adam_step(torch::optim::Adam& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad()) {
      optimizer.step();
      return;
    }
    for (auto& p : group.params())
      if (p.grad().defined() && !fusable(p, p.grad())) {
        optimizer.step();
        return;
      }
  }
  c10::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = optimizer.state()[adam_state_key(p)];
      if (!slot) {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(0);
        s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(s);
      }
      auto& s = static_cast<torch::optim::AdamParamState&>(*slot);
      s.step(s.step() + 1);
      const double bc1 = 1 - std::pow(b1, static_cast<double>(s.step()));
      const double bc2 = 1 - std::pow(b2, static_cast<double>(s.step()));
      float* pd = p.data_ptr<float>();
      const float* gd = p.grad().data_ptr<float>();
      float* md = s.exp_avg().data_ptr<float>();
      float* vd = s.exp_avg_sq().data_ptr<float>();
      const auto args = std::make_tuple(static_cast<float>(b1), static_cast<float>(1 - b1), static_cast<float>(b2),
                                        static_cast<float>(1 - b2), static_cast<float>(1 / std::sqrt(bc2)),
                                        static_cast<float>(o.eps()), static_cast<float>(-o.lr() / bc1));
      at::parallel_for(0, p.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
        adam_kernel(pd + begin, gd + begin, md + begin, vd + begin, end - begin, std::get<0>(args), std::get<1>(args),
                    std::get<2>(args), std::get<3>(args), std::get<4>(args), std::get<5>(args), std::get<6>(args));
      });
    }
  }
}

}  // namespace scfm::train
