// Compressed sparse row matrices: the form in which scfm hands cells to the rest of the system.
//
// Row r holds entries indptr[r] .. indptr[r+1]-1; within a row, column indices are strictly
// ascending (readers sort them if the file does not) and values may include explicit zeros only
// when the file stored them. Values are float32: counts and normalised expression both fit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace scfm::io {

struct CsrMatrix {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  std::vector<int64_t> indptr{0};  // n_rows + 1 entries, indptr[0] == 0
  std::vector<int32_t> indices;    // nnz column indices
  std::vector<float> data;         // nnz values

  int64_t nnz() const { return static_cast<int64_t>(indices.size()); }
  // Dense copy (row-major n_rows x n_cols); for tests and small matrices.
  std::vector<float> to_dense() const;
  // Per-row sums of values.
  std::vector<double> row_sums() const;
};

// Transposes a CSR matrix (equivalently: turns CSC arrays into CSR). Output rows are sorted.
CsrMatrix transpose(const CsrMatrix& m);
// Sorts the column indices within each row (stable for duplicates).
void sort_indices(CsrMatrix& m);

}  // namespace scfm::io
