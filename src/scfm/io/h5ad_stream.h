// Streaming the matrix of an .h5ad by blocks of cells, with memory bounded by the block.
//
// The reader opens X (or a layer) once and hands out rows [start, start + count) as float32
// CSR: for csr_matrix it reads the block's slice of indptr, then the matching hyperslabs of
// indices and data; for a dense array, the block's rows. Memory is O(block), whatever the file.
//
// A csc_matrix has no row blocks on disk. If its arrays fit in `csc_memory_limit_bytes` it is
// loaded once and transposed in memory; otherwise opening fails with a message saying how to
// convert the file (scanpy: `adata.X = adata.X.tocsr(); adata.write_h5ad(...)`).
//
// Each block is checked: indptr monotone and within nnz, indices within the number of columns.
// Not thread-safe: use one reader per thread.
#pragma once

#include <memory>
#include <string>

#include "scfm/io/array.h"
#include "scfm/io/row_source.h"
#include "scfm/io/sparse.h"

namespace scfm::io {

struct H5adStreamOptions {
  std::string layer;                              // "" = X
  int64_t csc_memory_limit_bytes = int64_t(2) << 30;  // 2 GiB
};

class H5adMatrixReader : public RowSource {
 public:
  explicit H5adMatrixReader(const std::string& path, const H5adStreamOptions& options = {});
  ~H5adMatrixReader() override;
  H5adMatrixReader(const H5adMatrixReader&) = delete;
  H5adMatrixReader& operator=(const H5adMatrixReader&) = delete;

  int64_t n_rows() const override;
  int64_t n_cols() const override;
  int64_t nnz() const;               // stored entries (n_rows * n_cols for dense)
  const std::string& encoding() const;  // csr_matrix | csc_matrix | array
  DType dtype() const;               // of the stored values
  // Rows [start, start + count) as float32 CSR with sorted column indices.
  CsrMatrix read_rows(int64_t start, int64_t count) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::io
