#include "scfm/pp/binning.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::pp {

namespace {

using util::splitmix64;

void check_n_bins(int n_bins) {
  if (n_bins < 3) throw Error("binning: n_bins must be at least 3, got " + std::to_string(n_bins));
}

// Bins the cells of `m`; `uniform(row, column)` supplies u for each entry whose bin depends on it
// (called once per non-zero entry, in row then column order, as numpy draws).
template <class Uniform>
BinnedMatrix bin_rows(const io::CsrMatrix& m, int n_bins, Uniform uniform) {
  check_n_bins(n_bins);
  BinnedMatrix out;
  out.n_bins = n_bins;
  out.bins.assign(m.data.size(), 0);
  out.bin_edges.assign(static_cast<size_t>(m.n_rows) * n_bins, 0.0);
  std::vector<float> nz;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    nz.clear();
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      const float v = m.data[k];
      if (v < 0 || std::isnan(v))
        throw Error("binning: row " + std::to_string(r) + ", column " + std::to_string(m.indices[k]) +
                    ": values must be non-negative, got " + std::to_string(v));
      if (v != 0) nz.push_back(v);
    }
    if (nz.empty()) continue;  // scGPT: all-zero cell -> zeros, no random draws
    const std::vector<double> edges = quantile_edges(nz, n_bins);
    double* row_edges = &out.bin_edges[static_cast<size_t>(r) * n_bins];
    for (int i = 0; i + 1 < n_bins; ++i) row_edges[i + 1] = edges[i];
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      const float v = m.data[k];
      if (v == 0) continue;
      int32_t left = 0, right = 0;
      digitize(static_cast<double>(v), edges, &left, &right);
      const double u = uniform(r, m.indices[k]);
      const double digit = u * static_cast<double>(right - left) + static_cast<double>(left);
      out.bins[k] = static_cast<int32_t>(std::ceil(digit));
    }
  }
  return out;
}

}  // namespace

double keyed_uniform(uint64_t seed, int64_t cell, int64_t gene) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(cell));
  h = splitmix64(h ^ static_cast<uint64_t>(gene));
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

std::vector<double> quantile_edges(const std::vector<float>& nonzero_values, int n_bins) {
  check_n_bins(n_bins);
  if (nonzero_values.empty()) throw Error("binning: quantile_edges of an empty cell");
  std::vector<float> s(nonzero_values);
  std::sort(s.begin(), s.end());
  const int64_t n = static_cast<int64_t>(s.size());
  const int n_edges = n_bins - 1;
  std::vector<double> edges(n_edges);
  // np.linspace(0, 1, n_edges): i * (1 / (n_edges - 1)), the last exactly 1
  const double step = 1.0 / static_cast<double>(n_edges - 1);
  for (int i = 0; i < n_edges; ++i) {
    const double q = i == n_edges - 1 ? 1.0 : static_cast<double>(i) * step;
    const double h = static_cast<double>(n - 1) * q;
    int64_t lo = static_cast<int64_t>(std::floor(h));
    const double g = h - static_cast<double>(lo);
    lo = std::min<int64_t>(std::max<int64_t>(lo, 0), n - 1);
    const int64_t hi = std::min<int64_t>(lo + 1, n - 1);
    // numpy's _lerp subtracts in the input's dtype (float32), then interpolates in float64
    const float diff32 = s[hi] - s[lo];
    const double a = s[lo], b = s[hi], diff = diff32;
    edges[i] = g < 0.5 ? a + diff * g : b - diff * (1 - g);
  }
  return edges;
}

void digitize(double x, const std::vector<double>& edges, int32_t* left, int32_t* right) {
  *left = static_cast<int32_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin());
  *right = static_cast<int32_t>(std::lower_bound(edges.begin(), edges.end(), x) - edges.begin());
}

BinnedMatrix binning(const io::CsrMatrix& m, const BinningOptions& options,
                     const std::vector<int64_t>& cell_ids) {
  if (static_cast<int64_t>(cell_ids.size()) != m.n_rows)
    throw Error("binning: " + std::to_string(cell_ids.size()) + " cell ids for " +
                std::to_string(m.n_rows) + " rows");
  if (options.mode != BinningMode::Keyed) return binning(m, options, int64_t{0});
  const uint64_t seed = options.seed;
  return bin_rows(m, options.n_bins, [&](int64_t r, int32_t col) {
    return keyed_uniform(seed, cell_ids[r], col);
  });
}

BinnedMatrix binning(const io::CsrMatrix& m, const BinningOptions& options, int64_t first_row) {
  switch (options.mode) {
    case BinningMode::Seeded: {
      if (options.seed > 0xFFFFFFFFULL)
        throw Error("binning: a Seeded seed must fit in 32 bits (numpy's np.random.seed), got " +
                    std::to_string(options.seed));
      NumpyLegacyRandom rng(static_cast<uint32_t>(options.seed));
      return binning(m, options.n_bins, rng);
    }
    case BinningMode::Keyed: {
      const uint64_t seed = options.seed;
      return bin_rows(m, options.n_bins, [&](int64_t r, int32_t col) {
        return keyed_uniform(seed, first_row + r, col);
      });
    }
    case BinningMode::Deterministic:
      return bin_rows(m, options.n_bins, [](int64_t, int32_t) { return 0.5; });
  }
  throw Error("binning: unknown mode");
}

BinnedMatrix binning(const io::CsrMatrix& m, int n_bins, NumpyLegacyRandom& rng) {
  return bin_rows(m, n_bins, [&](int64_t, int32_t) { return rng.rand(); });
}

io::CsrMatrix binned_csr(const io::CsrMatrix& m, const BinnedMatrix& binned) {
  if (binned.bins.size() != m.data.size())
    throw Error("binned_csr: " + std::to_string(binned.bins.size()) + " bins for " +
                std::to_string(m.data.size()) + " stored entries");
  io::CsrMatrix out = m;
  for (size_t k = 0; k < out.data.size(); ++k) out.data[k] = static_cast<float>(binned.bins[k]);
  return out;
}

void clamp_values(io::CsrMatrix& m, double max_value) {
  const float cap = static_cast<float>(max_value);
  for (float& v : m.data)
    if (v > cap) v = cap;
}

}  // namespace scfm::pp
