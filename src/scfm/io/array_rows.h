// Cells held in memory by someone else: the arrays of a CSR matrix (scipy.sparse's indptr,
// indices, data) or a dense row-major matrix, of any of numpy's integer and float types. The
// arrays are read where they are, block by block (a block is converted to float32 CSR as the
// .h5ad stream reader converts its hyperslabs); they are never copied whole. The caller keeps
// them alive and unchanged while the ArrayRows is used.
//
// Checks, per block, as the file reader does: indptr starts at 0, is monotone and ends within
// nnz; column indices within [0, n_cols) (rows are sorted when they are not). Messages name
// `name` (e.g. "adata.X") and the array.
#pragma once

#include <string>

#include "scfm/io/array.h"
#include "scfm/io/row_source.h"

namespace scfm::io {

struct ArrayView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t size = 0;  // elements
};

class ArrayRows : public RowSource {
 public:
  // CSR: indptr has n_rows + 1 entries (I32/I64/U32/U64), indices nnz (any integer type), data
  // nnz (any number type but String).
  static ArrayRows csr(std::string name, int64_t n_rows, int64_t n_cols, ArrayView indptr, ArrayView indices,
                       ArrayView data);
  // Dense, row-major n_rows x n_cols (C order); zeros are not stored in the blocks.
  static ArrayRows dense(std::string name, int64_t n_rows, int64_t n_cols, ArrayView values);

  int64_t n_rows() const override { return n_rows_; }
  int64_t n_cols() const override { return n_cols_; }
  int64_t nnz() const;
  CsrMatrix read_rows(int64_t start, int64_t count) override;

 private:
  ArrayRows(std::string name, int64_t n_rows, int64_t n_cols, bool dense, ArrayView data);
  [[noreturn]] void bad(const std::string& field, const std::string& what) const;
  std::string name_;
  int64_t n_rows_ = 0, n_cols_ = 0;
  bool dense_ = false;
  ArrayView indptr_, indices_, data_;
};

}  // namespace scfm::io
