#include "scfm/io/sparse.h"

#include <algorithm>
#include <numeric>

namespace scfm::io {

std::vector<float> CsrMatrix::to_dense() const {
  std::vector<float> out(static_cast<size_t>(n_rows * n_cols), 0.0f);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) out[r * n_cols + indices[k]] += data[k];
  return out;
}

std::vector<double> CsrMatrix::row_sums() const {
  std::vector<double> out(static_cast<size_t>(n_rows), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) out[r] += data[k];
  return out;
}

CsrMatrix transpose(const CsrMatrix& m) {
  CsrMatrix t;
  t.n_rows = m.n_cols;
  t.n_cols = m.n_rows;
  t.indptr.assign(static_cast<size_t>(t.n_rows + 1), 0);
  for (int32_t c : m.indices) ++t.indptr[c + 1];
  std::partial_sum(t.indptr.begin(), t.indptr.end(), t.indptr.begin());
  t.indices.resize(m.indices.size());
  t.data.resize(m.data.size());
  std::vector<int64_t> next(t.indptr.begin(), t.indptr.end() - 1);
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      int64_t dst = next[m.indices[k]]++;
      t.indices[dst] = static_cast<int32_t>(r);
      t.data[dst] = m.data[k];
    }
  }
  return t;
}

void sort_indices(CsrMatrix& m) {
  std::vector<std::pair<int32_t, float>> row;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    int64_t b = m.indptr[r], e = m.indptr[r + 1];
    if (std::is_sorted(m.indices.begin() + b, m.indices.begin() + e)) continue;
    row.clear();
    for (int64_t k = b; k < e; ++k) row.emplace_back(m.indices[k], m.data[k]);
    std::stable_sort(row.begin(), row.end(), [](auto& a, auto& c) { return a.first < c.first; });
    for (int64_t k = b; k < e; ++k) {
      m.indices[k] = row[k - b].first;
      m.data[k] = row[k - b].second;
    }
  }
}

}  // namespace scfm::io
