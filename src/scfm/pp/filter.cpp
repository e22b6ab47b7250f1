#include "scfm/pp/filter.h"

namespace scfm::pp {

static bool within(double v, double lo, double hi) { return (lo < 0 || v >= lo) && (hi < 0 || v <= hi); }

std::vector<bool> filter_cells(const io::CsrMatrix& m, const FilterCellsOptions& o) {
  std::vector<bool> keep(static_cast<size_t>(m.n_rows));
  for (int64_t r = 0; r < m.n_rows; ++r) {
    double total = 0;
    int64_t genes = 0;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      total += m.data[k];
      genes += m.data[k] != 0;
    }
    keep[r] = within(total, o.min_counts, o.max_counts) &&
              within(static_cast<double>(genes), static_cast<double>(o.min_genes), static_cast<double>(o.max_genes));
  }
  return keep;
}

std::vector<bool> filter_genes(const io::CsrMatrix& m, const FilterGenesOptions& o) {
  std::vector<double> total(static_cast<size_t>(m.n_cols), 0.0);
  std::vector<int64_t> cells(static_cast<size_t>(m.n_cols), 0);
  for (int64_t k = 0; k < m.nnz(); ++k) {
    total[m.indices[k]] += m.data[k];
    cells[m.indices[k]] += m.data[k] != 0;
  }
  std::vector<bool> keep(static_cast<size_t>(m.n_cols));
  for (int64_t c = 0; c < m.n_cols; ++c)
    keep[c] = within(total[c], o.min_counts, o.max_counts) &&
              within(static_cast<double>(cells[c]), static_cast<double>(o.min_cells), static_cast<double>(o.max_cells));
  return keep;
}

io::CsrMatrix subset(const io::CsrMatrix& m, const std::vector<bool>& rows, const std::vector<bool>& cols) {
  std::vector<int32_t> new_col(static_cast<size_t>(m.n_cols), -1);
  int32_t n_cols = 0;
  for (int64_t c = 0; c < m.n_cols; ++c)
    if (cols[c]) new_col[c] = n_cols++;
  io::CsrMatrix out;
  out.n_cols = n_cols;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    if (!rows[r]) continue;
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      if (new_col[m.indices[k]] < 0) continue;
      out.indices.push_back(new_col[m.indices[k]]);
      out.data.push_back(m.data[k]);
    }
    out.indptr.push_back(out.nnz());
    ++out.n_rows;
  }
  return out;
}

}  // namespace scfm::pp
