#include "scfm/eval/perturbation_de.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

struct MeanVar {
  std::vector<double> mean, var;
};

// scanpy's _get_mean_var: mean and E[x^2] - mean^2 in double, times n / (n - 1)
MeanVar mean_var(const float* x, int64_t n_rows, int64_t g, const std::vector<int64_t>& rows, const char* what) {
  if (rows.empty()) throw Error(std::string("DE genes: no ") + what + " cells");
  MeanVar m{std::vector<double>(static_cast<size_t>(g), 0.0), std::vector<double>(static_cast<size_t>(g), 0.0)};
  for (int64_t r : rows) {
    if (r < 0 || r >= n_rows) throw Error("DE genes: row " + std::to_string(r) + " out of range");
    const float* row = x + r * g;
    for (int64_t j = 0; j < g; ++j) {
      const double v = row[j];
      m.mean[j] += v;
      m.var[j] += v * v;
    }
  }
  const double n = static_cast<double>(rows.size());
  for (int64_t j = 0; j < g; ++j) {
    m.mean[j] /= n;
    m.var[j] = m.var[j] / n - m.mean[j] * m.mean[j];
    m.var[j] = n > 1 ? m.var[j] * n / (n - 1) : std::numeric_limits<double>::quiet_NaN();
  }
  return m;
}

std::vector<int64_t> first_n(const std::vector<int64_t>& ranked, const std::vector<bool>& keep, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t j : ranked) {
    if (static_cast<int64_t>(out.size()) >= n) break;
    if (keep[j]) out.push_back(j);
  }
  return out;
}

}  // namespace

DeGenes rank_de_genes(const float* x, int64_t n_rows, int64_t g, const std::vector<int64_t>& group,
                      const std::vector<int64_t>& control, int64_t n_top) {
  const MeanVar a = mean_var(x, n_rows, g, group, "perturbed");
  const MeanVar c = mean_var(x, n_rows, g, control, "control");
  const double na = static_cast<double>(group.size()), nc = static_cast<double>(control.size());
  DeGenes d;
  d.scores.resize(static_cast<size_t>(g));
  for (int64_t j = 0; j < g; ++j) {
    // scipy's ttest_ind_from_stats(equal_var=False): d / sqrt(v1/n1 + v2/n2); scanpy: NaN -> 0
    const double t = (a.mean[j] - c.mean[j]) / std::sqrt(a.var[j] / na + c.var[j] / nc);
    d.scores[j] = std::isnan(t) ? 0.0 : t;
  }
  d.ranked.resize(static_cast<size_t>(g));
  std::iota(d.ranked.begin(), d.ranked.end(), 0);
  std::stable_sort(d.ranked.begin(), d.ranked.end(),
                   [&](int64_t p, int64_t q) { return std::fabs(d.scores[p]) > std::fabs(d.scores[q]); });
  std::vector<bool> non_zero(static_cast<size_t>(g)), non_dropout(static_cast<size_t>(g));
  for (int64_t j = 0; j < g; ++j) {
    non_zero[j] = a.mean[j] != 0;
    non_dropout[j] = non_zero[j] || c.mean[j] == 0;
  }
  d.top_de.assign(d.ranked.begin(), d.ranked.begin() + std::min<int64_t>(n_top, g));
  d.top_non_dropout = first_n(d.ranked, non_dropout, n_top);
  d.top_non_zero = first_n(d.ranked, non_zero, n_top);
  return d;
}

}  // namespace scfm::eval
