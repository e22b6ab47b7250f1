// Where tasks read cells from: blocks of CSR rows, whatever holds them.
//
// Two implementations: io::H5adMatrixReader streams X (or a layer) of an .h5ad file, and
// io::ArrayRows reads arrays already in memory (a scipy.sparse CSR matrix or a dense numpy array
// handed over by the Python module, without copying them). A task written against RowSource runs
// the same code on a file and on an AnnData object in a notebook, so the two give the same bits.
#pragma once

#include <cstdint>

#include "scfm/io/sparse.h"

namespace scfm::io {

class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual int64_t n_rows() const = 0;
  virtual int64_t n_cols() const = 0;
  // Rows [start, start + count) as float32 CSR with sorted column indices; throws scfm::Error
  // (naming the source and the field) on a range outside the rows or on malformed arrays.
  virtual CsrMatrix read_rows(int64_t start, int64_t count) = 0;
};

}  // namespace scfm::io
