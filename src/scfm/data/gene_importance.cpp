#include "scfm/data/gene_importance.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "scfm/util/error.h"

namespace scfm::data {

std::vector<double> anova_f(const io::CsrMatrix& x, const std::vector<int32_t>& labels) {
  if (static_cast<int64_t>(labels.size()) != x.n_rows)
    throw Error("anova_f: " + std::to_string(labels.size()) + " labels for " + std::to_string(x.n_rows) + " rows");
  int32_t k = 0;
  for (int32_t l : labels) k = std::max(k, l + 1);
  std::vector<int64_t> count(static_cast<size_t>(k), 0);
  for (int32_t l : labels)
    if (l >= 0) ++count[l];
  int64_t n = 0, groups = 0;
  for (int64_t c : count) {
    n += c;
    groups += c > 0;
  }
  if (groups < 2 || n <= groups)
    throw Error("anova_f: needs at least two labels and more cells than labels (" + std::to_string(groups) +
                " labels, " + std::to_string(n) + " cells)");
  const size_t g = static_cast<size_t>(x.n_cols);
  // per label and gene: sum and sum of squares (double; the zeros add nothing)
  std::vector<double> sum(static_cast<size_t>(k) * g, 0.0), sq(static_cast<size_t>(k) * g, 0.0);
  for (int64_t r = 0; r < x.n_rows; ++r) {
    const int32_t l = labels[r];
    if (l < 0) continue;
    double* s = sum.data() + static_cast<size_t>(l) * g;
    double* q = sq.data() + static_cast<size_t>(l) * g;
    for (int64_t p = x.indptr[r]; p < x.indptr[r + 1]; ++p) {
      const double v = x.data[p];
      s[x.indices[p]] += v;
      q[x.indices[p]] += v * v;
    }
  }
  std::vector<double> f(g);
  for (size_t j = 0; j < g; ++j) {
    double total = 0, total_sq = 0, between = 0;
    for (int32_t l = 0; l < k; ++l) {
      if (count[l] == 0) continue;
      const double s = sum[static_cast<size_t>(l) * g + j];
      total += s;
      total_sq += sq[static_cast<size_t>(l) * g + j];
      between += s * s / static_cast<double>(count[l]);
    }
    const double ss_between = between - total * total / static_cast<double>(n);
    const double ss_within = total_sq - between;
    // float rounding leaves tiny negative or positive residues for constant genes; sklearn computes
    // the same differences, so scale the tolerance by the magnitude of the sums
    const double tol = 1e-12 * std::max(1.0, total_sq);
    const double msb = std::max(0.0, ss_between) / static_cast<double>(groups - 1);
    const double msw = (ss_within > tol ? ss_within : 0.0) / static_cast<double>(n - groups);
    if (msw == 0) f[j] = msb > tol ? INFINITY : NAN;
    else f[j] = msb / msw;
  }
  return f;
}

std::vector<int32_t> rank_by_score(const std::vector<double>& score, int64_t top_n) {
  std::vector<int32_t> order(score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const bool na = std::isnan(score[a]), nb = std::isnan(score[b]);
    if (na != nb) return nb;
    if (na) return false;
    return score[a] > score[b];
  });
  if (top_n >= 0 && top_n < static_cast<int64_t>(order.size())) order.resize(static_cast<size_t>(top_n));
  return order;
}

}  // namespace scfm::data
