#include "scfm/pp/normalize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace scfm::pp {

namespace {

template <class Ptr>
double normalize_rows(int64_t n_rows, const Ptr* indptr, float* data, const NormalizeTotalOptions& options) {
  std::vector<double> totals(static_cast<size_t>(n_rows), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = indptr[r]; k < static_cast<int64_t>(indptr[r + 1]); ++k) totals[r] += data[k];
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
  for (int64_t r = 0; r < n_rows; ++r) {
    if (totals[r] <= 0) continue;
    const double scale = target / totals[r];
    for (int64_t k = indptr[r]; k < static_cast<int64_t>(indptr[r + 1]); ++k)
      data[k] = static_cast<float>(static_cast<double>(data[k]) * scale);
  }
  return target;
}

}  // namespace

double normalize_total(io::CsrMatrix& m, const NormalizeTotalOptions& options) {
  return normalize_rows(m.n_rows, m.indptr.data(), m.data.data(), options);
}

double normalize_total(int64_t n_rows, const int64_t* indptr, float* data, const NormalizeTotalOptions& options) {
  return normalize_rows(n_rows, indptr, data, options);
}

double normalize_total(int64_t n_rows, const int32_t* indptr, float* data, const NormalizeTotalOptions& options) {
  return normalize_rows(n_rows, indptr, data, options);
}

namespace {

// ln(1 + x) of floats in [-0.25, FLT_MAX], computed in double and rounded once: u = 1 + x
// (rounding error c), u = m * 2^k with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with
// s = (m - 1) / (m + 1), |s| <= 0.172, as the series 2s (1 + s^2/3 + ... + s^14/15) (relative
// error < 1e-13), and ln(1 + x) = k ln 2 + ln m - c / u. No table and no branch per element, so
// the compiler vectorises it (AVX-512 / AVX2 clones chosen at load time).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void log1p_in_range(float* v, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double x = v[i];
    const double u = 1.0 + x;
    const double c = (u - 1.0) - x;
    uint64_t b;
    std::memcpy(&b, &u, 8);
    const uint64_t mb = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull;  // m in [1, 2)
    const uint64_t eb = (b >> 52) | 0x4330000000000000ull;                    // 2^52 + biased exponent
    double m, e;
    std::memcpy(&m, &mb, 8);
    std::memcpy(&e, &eb, 8);
    double k = e - 4503599627370496.0 - 1023.0;
    const bool high = m > 1.4142135623730951;
    m = high ? m * 0.5 : m;
    k = high ? k + 1.0 : k;
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double p =
        1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9 + z * (1.0 / 11 + z * (1.0 / 13 + z * (1.0 / 15)))))));
    const double r = k * 0.6931471805599453 + 2.0 * s * p - c / u;
    v[i] = static_cast<float>(std::copysign(r, x));  // log1p keeps the sign of x, -0 included
  }
}

}  // namespace

void log1p(float* values, size_t n) {
  bool in_range = true;
  for (size_t i = 0; i < n; ++i) in_range &= values[i] >= -0.25f && values[i] <= FLT_MAX;  // false for NaN
  if (in_range) return log1p_in_range(values, n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(std::log1p(static_cast<double>(values[i])));
}

void log1p(io::CsrMatrix& m) { log1p(m.data.data(), m.data.size()); }

void log1p_normalize_cell(float* values, size_t n, double target) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += values[i];
  if (total <= 0) return;
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(std::log1p(static_cast<double>(values[i]) * target / total));
}

}  // namespace scfm::pp
