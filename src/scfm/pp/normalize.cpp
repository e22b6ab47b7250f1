#include "scfm/pp/normalize.h"

#include <algorithm>
#include <cmath>

namespace scfm::pp {

double normalize_total(io::CsrMatrix& m, const NormalizeTotalOptions& options) {
  std::vector<double> totals = m.row_sums();
  double target = 0;
  if (options.target_sum) {
    target = *options.target_sum;
  } else {
    std::vector<double> positive;
    for (double t : totals)
      if (t > 0) positive.push_back(t);
    if (!positive.empty()) {
      // numpy's median: mean of the two middle values for an even count
      std::sort(positive.begin(), positive.end());
      size_t n = positive.size();
      target = n % 2 ? positive[n / 2] : 0.5 * (positive[n / 2 - 1] + positive[n / 2]);
    }
  }
  for (int64_t r = 0; r < m.n_rows; ++r) {
    if (totals[r] <= 0) continue;
    const double scale = target / totals[r];
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k)
      m.data[k] = static_cast<float>(static_cast<double>(m.data[k]) * scale);
  }
  return target;
}

void log1p(io::CsrMatrix& m) {
  for (float& v : m.data) v = std::log1p(v);
}

}  // namespace scfm::pp
