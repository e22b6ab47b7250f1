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

std::vector<double> silhouette_samples(const EmbeddingView& x, const std::vector<int32_t>& codes,
                                       const std::vector<int64_t>& rows_in) {
  std::vector<int64_t> rows = rows_in;
  if (rows.empty()) {
    rows.resize(static_cast<size_t>(x.n));
    std::iota(rows.begin(), rows.end(), 0);
  }
  const int64_t n = static_cast<int64_t>(rows.size()), d = x.d;
  if (static_cast<int64_t>(codes.size()) != n)
    throw Error("silhouette: " + std::to_string(codes.size()) + " labels for " + std::to_string(n) + " cells");
  // dense cluster ids in code order; cells sorted by cluster so each cluster is one column range
  std::map<int32_t, int32_t> dense;
  for (int32_t c : codes) {
    if (c < 0) throw Error("silhouette: negative label code");
    dense.emplace(c, 0);
  }
  const int32_t k = static_cast<int32_t>(dense.size());
  if (k < 2 || k > n - 1)
    throw Error("silhouette: needs 2 to n - 1 labels (n = " + std::to_string(n) + "), got " + std::to_string(k));
  int32_t next = 0;
  for (auto& [c, v] : dense) v = next++;
  std::vector<int32_t> lab(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) lab[i] = dense[codes[i]];
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lab[a] < lab[b]; });
  std::vector<int64_t> start(static_cast<size_t>(k + 1), 0);
  for (int64_t i = 0; i < n; ++i) ++start[lab[i] + 1];
  for (int32_t c = 0; c < k; ++c) start[c + 1] += start[c];
  // centred rows in sorted order and their squared norms
  std::vector<int64_t> src(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) src[i] = rows[order[i]];
  const CentredRows cr = centre_rows(x.x, d, src);
  std::vector<double> out(static_cast<size_t>(n), 0.0);
  for_each_distance_row(cr, int64_t{1} << 24, [&](int64_t i, float* dr) {
    for (int64_t j = 0; j < n; ++j) dr[j] = std::sqrt(dr[j]);
    const int32_t own = lab[order[i]];
    double a = 0, b = std::numeric_limits<double>::infinity();
    for (int32_t c = 0; c < k; ++c) {
      double s = 0;
      for (int64_t j = start[c]; j < start[c + 1]; ++j) s += dr[j];
      const int64_t size = start[c + 1] - start[c];
      if (c == own) {
        a = size > 1 ? s / static_cast<double>(size - 1) : std::numeric_limits<double>::quiet_NaN();
      } else {
        b = std::min(b, s / static_cast<double>(size));
      }
    }
    double sil = (b - a) / std::max(a, b);
    if (!std::isfinite(sil)) sil = 0.0;  // sklearn's nan_to_num: a cluster of one
    out[order[i]] = sil;
  });
  return out;
}

}  // namespace scfm::eval
