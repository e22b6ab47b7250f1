#include "scfm/train/objective.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/log.h>
#include <ATen/ops/where.h>

#include <cmath>

namespace scfm::train {

at::Tensor masked_sse(const at::Tensor& output, const at::Tensor& target, const at::Tensor& mask) {
  at::Tensor m = mask.to(output.scalar_type());
  at::Tensor d = (output - target) * m;
  return (d * d).sum();
}

at::Tensor masked_bernoulli_nll_sum(const at::Tensor& probs, const at::Tensor& target, const at::Tensor& mask) {
  at::Tensor x = (target > 0).to(probs.scalar_type());
  at::Tensor p = probs.clamp(1e-7, 1 - 1e-7);
  at::Tensor logp = x * at::log(p) + (1 - x) * at::log(1 - p);
  return -(logp * mask.to(probs.scalar_type())).sum();
}

void EvalAccumulator::add(const at::Tensor& output, const at::Tensor& target, const at::Tensor& mask,
                          const at::Tensor& genes) {
  at::Tensor o = output.detach().to(at::kDouble).cpu().masked_select(mask.cpu());
  at::Tensor t = target.detach().to(at::kDouble).cpu().masked_select(mask.cpu());
  at::Tensor g = genes.cpu().masked_select(mask.cpu());
  const double* op = o.data_ptr<double>();
  const double* tp = t.data_ptr<double>();
  const int64_t* gp = g.data_ptr<int64_t>();
  const double edges[4] = {0.0, std::log(2.0), std::log(11.0), INFINITY};
  for (int64_t i = 0; i < o.numel(); ++i) {
    const double d = op[i] - tp[i];
    sse_ += d * d;
    wsse_ += d * d * tp[i];
    n_ += 1;
    if (tp[i] != 0) {
      rel_ += std::abs(d) / (tp[i] + 1e-6);
      n_rel_ += 1;
    }
    for (int b = 0; b < 3; ++b)
      if (tp[i] > edges[b] && tp[i] <= edges[b + 1]) {
        band_sse_[b] += d * d;
        band_n_[b] += 1;
      }
    if (gp[i] >= 0 && static_cast<size_t>(gp[i]) < gene_means_.size()) {
      const double e = gene_means_[gp[i]] - tp[i];
      base_sse_ += e * e;
      n_base_ += 1;
    }
  }
}

std::vector<double> EvalAccumulator::sums() const {
  return {sse_, wsse_, rel_, n_, n_rel_, base_sse_, n_base_, band_sse_[0], band_sse_[1], band_sse_[2],
          band_n_[0], band_n_[1], band_n_[2]};
}

void EvalAccumulator::set_sums(const std::vector<double>& s) {
  sse_ = s[0], wsse_ = s[1], rel_ = s[2], n_ = s[3], n_rel_ = s[4], base_sse_ = s[5], n_base_ = s[6];
  for (int b = 0; b < 3; ++b) band_sse_[b] = s[7 + b], band_n_[b] = s[10 + b];
}

nlohmann::json EvalAccumulator::result() const {
  auto ratio = [](double a, double b) { return b > 0 ? nlohmann::json(a / b) : nlohmann::json(nullptr); };
  return {{"mse", ratio(sse_, n_)},
          {"weighted_loss", ratio(wsse_, n_)},
          {"relative_error", ratio(rel_, n_rel_)},
          {"mse_0_ln2", ratio(band_sse_[0], band_n_[0])},
          {"mse_ln2_ln11", ratio(band_sse_[1], band_n_[1])},
          {"mse_gt_ln11", ratio(band_sse_[2], band_n_[2])},
          {"gene_mean_baseline_mse", ratio(base_sse_, n_base_)},
          {"n_masked", n_}};
}

}  // namespace scfm::train
