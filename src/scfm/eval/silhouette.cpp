#include "scfm/eval/silhouette.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>

#include "scfm/eval/linalg.h"
#include "scfm/util/error.h"

namespace scfm::eval {

SilhouetteCollector::SilhouetteCollector(const std::vector<int32_t>& codes, const std::vector<int64_t>& rows_in,
                                         int64_t n_view) {
  std::vector<int64_t> rows = rows_in;
  if (rows.empty()) {
    rows.resize(static_cast<size_t>(n_view));
    std::iota(rows.begin(), rows.end(), 0);
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  if (static_cast<int64_t>(codes.size()) != n)
    throw Error("silhouette: " + std::to_string(codes.size()) + " labels for " + std::to_string(n) + " cells");
  // dense cluster ids in code order; cells sorted by cluster so each cluster is one column range
  std::map<int32_t, int32_t> dense;
  for (int32_t c : codes) {
    if (c < 0) throw Error("silhouette: negative label code");
    dense.emplace(c, 0);
  }
  k_ = static_cast<int32_t>(dense.size());
  if (k_ < 2 || k_ > n - 1)
    throw Error("silhouette: needs 2 to n - 1 labels (n = " + std::to_string(n) + "), got " + std::to_string(k_));
  int32_t next = 0;
  for (auto& [c, v] : dense) v = next++;
  lab_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) lab_[i] = dense[codes[i]];
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) { return lab_[a] < lab_[b]; });
  start_.assign(static_cast<size_t>(k_ + 1), 0);
  for (int64_t i = 0; i < n; ++i) ++start_[lab_[i] + 1];
  for (int32_t c = 0; c < k_; ++c) start_[c + 1] += start_[c];
  source_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) source_[i] = rows[order_[i]];
  out_.assign(static_cast<size_t>(n), 0.0);
}

void SilhouetteCollector::row(int64_t p, float* d2) {
  const int64_t n = static_cast<int64_t>(order_.size());
  for (int64_t j = 0; j < n; ++j) d2[j] = std::sqrt(d2[j]);
  const int32_t own = lab_[order_[p]];
  double a = 0, b = std::numeric_limits<double>::infinity();
  for (int32_t c = 0; c < k_; ++c) {
    double s = 0;
    for (int64_t j = start_[c]; j < start_[c + 1]; ++j) s += d2[j];
    const int64_t size = start_[c + 1] - start_[c];
    if (c == own) {
      a = size > 1 ? s / static_cast<double>(size - 1) : std::numeric_limits<double>::quiet_NaN();
    } else {
      b = std::min(b, s / static_cast<double>(size));
    }
  }
  double sil = (b - a) / std::max(a, b);
  if (!std::isfinite(sil)) sil = 0.0;  // sklearn's nan_to_num: a cluster of one
  out_[order_[p]] = sil;
}

std::vector<double> silhouette_samples(const EmbeddingView& x, const std::vector<int32_t>& codes,
                                       const std::vector<int64_t>& rows) {
  SilhouetteCollector collect(codes, rows, x.n);
  for_each_distance_row(centre_rows(x.x, x.d, collect.source_rows()), int64_t{1} << 24,
                        [&](int64_t p, float* d2) { collect.row(p, d2); });
  return collect.take();
}

}  // namespace scfm::eval
