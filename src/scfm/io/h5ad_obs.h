// Streaming the obs of an .h5ad by blocks of cells, with memory bounded by the block.
//
// The reader opens /obs once and hands out rows [start, start + count) of the obs index and of
// the named columns as strings, exactly as io::dataframe_index and io::column_strings print them
// from a fully read file (numbers "%.9g" or decimal, bools "True"/"False", NA of categoricals and
// nullable columns as ""). A block reads hyperslabs only: a plain column's values, a nullable
// column's values and mask, a categorical's codes; categories are read once, when opening.
//
// Layouts: those read_h5ad accepts. anndata >= 0.8: elements carry `encoding-type`: string-array
// and array datasets, categorical groups (codes + categories), nullable-integer, nullable-boolean
// and nullable-string-array groups (values + mask); variable- and fixed-length strings. anndata
// 0.7: no encoding attributes on columns, and a categorical is its codes dataset with an object
// reference (attribute `categories`) to obs/__categories/<name>. The index is the dataset named
// by obs's `_index` attribute ("_index" when absent).
//
// Checked when opening: each column exists (else the message lists obs's columns), is a 1-D
// dataset or a categorical / nullable group with its parts, and has as many rows as the index.
// Checked per block: categorical codes within [-1, n_categories). Failures are FormatErrors naming
// the file and the HDF5 path. Not thread-safe: one thread at a time per reader.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace scfm::io {

// Rows [start, start + count) of obs as strings.
struct H5adObsBlock {
  std::vector<std::string> index;                 // count names
  std::vector<std::vector<std::string>> columns;  // per column asked for, in that order; count each
};

class H5adObsReader {
 public:
  // Opens `path`'s obs for its index and `columns` (obs column names; may be empty).
  H5adObsReader(const std::string& path, const std::vector<std::string>& columns);
  ~H5adObsReader();
  H5adObsReader(const H5adObsReader&) = delete;
  H5adObsReader& operator=(const H5adObsReader&) = delete;

  int64_t n_rows() const;  // the length of the index: n_obs
  const std::vector<std::string>& columns() const;
  // Rows [start, start + count); throws if they are not within [0, n_rows()).
  H5adObsBlock read(int64_t start, int64_t count);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::io
