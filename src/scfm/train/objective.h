// Losses and validation metrics of masked-expression pretraining, as scBenchmark and scGPT
// compute them, split into sums so that ranks can add them up before dividing.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace scfm::train {

// Sum of squared errors over the masked positions (differentiable); divide by the global count
// of masked positions to get scBenchmark's masked_mse_loss.
at::Tensor masked_sse(const at::Tensor& output, const at::Tensor& target, const at::Tensor& mask);
// scGPT's criterion_neg_log_bernoulli, as a sum: -sum(log Bernoulli(p).prob(target > 0)) over mask.
at::Tensor masked_bernoulli_nll_sum(const at::Tensor& probs, const at::Tensor& target, const at::Tensor& mask);

// scBenchmark's evaluation: masked MSE, weighted loss (squared error times the target),
// relative error |o - t| / (t + 1e-6) over non-zero targets, and MSE in the value bands
// (0, ln 2], (ln 2, ln 11], > ln 11; plus the MSE of predicting each gene's training mean.
class EvalAccumulator {
 public:
  explicit EvalAccumulator(std::vector<double> gene_means = {}) : gene_means_(std::move(gene_means)) {}
  // output, target float B x T; mask bool B x T; genes int64 B x T (for the gene-mean baseline).
  void add(const at::Tensor& output, const at::Tensor& target, const at::Tensor& mask, const at::Tensor& genes);
  // The sums, in a fixed order, for an all-reduce; and back.
  std::vector<double> sums() const;
  void set_sums(const std::vector<double>& s);
  nlohmann::json result() const;

 private:
  std::vector<double> gene_means_;
  double sse_ = 0, wsse_ = 0, rel_ = 0, n_ = 0, n_rel_ = 0, base_sse_ = 0, n_base_ = 0;
  double band_sse_[3] = {0, 0, 0}, band_n_[3] = {0, 0, 0};
};

}  // namespace scfm::train
