// AnnData .h5ad files: read every encoding anndata 0.7 - 0.12 writes, write the 0.8+ encoding.
//
// A file is held as a tree of Nodes that mirrors its HDF5 layout in the anndata >= 0.8
// encoding: groups carry `encoding-type` / `encoding-version` attributes, datasets hold typed
// Arrays. Older layouts are converted while reading (anndata 0.7 categoricals with an object
// reference into `__categories`, `h5sparse_format` sparse groups, elements without encoding
// attributes), so the rest of scfm sees one layout and writing the tree back produces a file
// anndata reads with the same values and dtypes.
//
// Element encodings (encoding-type): dict, dataframe, array, csr_matrix, csc_matrix,
// string-array, categorical, nullable-integer, nullable-boolean, nullable-string-array,
// string, numeric-scalar.
//
// Reading validates what it loads: indptr monotone from 0 to nnz, indices within the shape,
// `shape` agreeing with the arrays, categorical codes within [-1, n_categories), dataframe
// columns as long as their index, obs/var as long as X's axes. Failures are FormatErrors
// naming the file and the HDF5 path.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scfm/io/array.h"
#include "scfm/io/sparse.h"

namespace scfm::io {

struct Node {
  bool is_group = false;
  Array data;          // the dataset's content, when !is_group
  bool loaded = true;  // false: `data` holds dtype and shape only (lazy read)
  std::string source;  // for a dataset not loaded: its HDF5 path in AnnData::path
  std::vector<std::pair<std::string, Array>> attrs;
  std::vector<std::pair<std::string, Node>> children;  // in file order

  const Node* child(const std::string& name) const;
  Node* child(const std::string& name);
  // Adds or replaces a child; returns it.
  Node& set(const std::string& name, Node node);
  bool remove(const std::string& name);
  const Array* attr(const std::string& name) const;
  void set_attr(const std::string& name, Array value);
  std::string attr_string(const std::string& name, const std::string& fallback = "") const;
  // The element's encoding-type ("dict" for plain groups, "array" for plain datasets).
  std::string encoding() const;
  // Names of the children, in order.
  std::vector<std::string> keys() const;
};

// Builders for elements in the anndata 0.8+ encoding.
Node make_dict();
Node make_array(Array values);
Node make_string_array(std::vector<std::string> values);
Node make_string(std::string value);
template <class T> Node make_scalar(T value) {
  Node n = make_array(Array::scalar(value));
  n.set_attr("encoding-type", Array::string_scalar("numeric-scalar"));
  return n;
}
Node make_categorical(std::vector<int32_t> codes, Node categories, bool ordered = false);
// Builds a categorical from labels (categories sorted, as pandas does); "" is not treated as NA.
Node make_categorical_from_labels(const std::vector<std::string>& labels);
Node make_nullable(const std::string& encoding, Array values, std::vector<bool> mask);
Node make_csr(const CsrMatrix& m);
Node make_dataframe(const std::string& index_name, std::vector<std::string> index);
// Adds a column to a dataframe node (appends to column-order, replaces an existing one).
void dataframe_set_column(Node& df, const std::string& name, Node column);

// Decoded view of one dataframe column.
struct Column {
  std::string name;
  std::string encoding;  // array, string-array, categorical, nullable-integer, ...
  DType dtype;           // of the values (codes' categories for categoricals)
  int64_t length = 0;
  int64_t n_categories = -1;  // categoricals only
  bool ordered = false;
};
Column describe_column(const Node& df, const std::string& name);
// Column values as strings (numbers printed, NA as "" for categorical/nullable, bools "True"/"False").
// Throws if the column was not loaded (H5adReadOptions::lazy_obs).
std::vector<std::string> column_strings(const Node& df, const std::string& name);
// Column names in column-order.
std::vector<std::string> dataframe_columns(const Node& df);
// The index as strings. Throws if it was not loaded (H5adReadOptions::lazy_obs).
std::vector<std::string> dataframe_index(const Node& df);

// The steps column_strings and dataframe_index decode with, for readers that decode a column a
// block of rows at a time (h5ad_obs.h) and must give the same strings.
// Values: strings as they are, floats "%.9g" ("nan"), other numbers in decimal, bools "True"/"False".
std::vector<std::string> array_strings(const Array& values);
// An index stored as a dataset: strings as they are, numbers as (truncated) integers.
std::vector<std::string> index_strings(const Array& index);
// "" when every code is -1 (NA) or in [0, n_categories); else what is wrong with the first bad one,
// counting rows from `first_row` ("code 7 at row 12 is out of range; expected -1 (NA) or 0..3").
std::string codes_out_of_range(const Array& codes, int64_t n_categories, int64_t first_row = 0);
// The labels of categorical codes, NA (-1) as "". The codes must be in range (codes_out_of_range).
std::vector<std::string> categorical_strings(const Array& codes, const std::vector<std::string>& categories);
// Empties the values whose mask entry is set (the NA of the nullable-* encodings).
void blank_masked(std::vector<std::string>& values, const Array& mask);

class AnnData {
 public:
  Node root;
  std::string path;  // the file it was read from, for messages

  int64_t n_obs() const;
  int64_t n_vars() const;
  const Node& obs() const;
  const Node& var() const;
  Node& obs();
  Node& var();
  std::vector<std::string> obs_names() const { return dataframe_index(obs()); }
  std::vector<std::string> var_names() const { return dataframe_index(var()); }
  // The matrix X, or layers/<layer> when layer is given. Throws if absent.
  const Node& matrix(const std::string& layer = "") const;
  bool has_x() const { return root.child("X") != nullptr; }
  // A matrix element (csr, csc or dense; any numeric dtype) as float32 CSR. Must be loaded.
  CsrMatrix matrix_csr(const std::string& layer = "") const;
  void set_matrix(const std::string& layer, Node m);  // layer "" = X
};

struct H5adReadOptions {
  // Matrices (X, layers, obsm, varm, obsp, varp, raw/X) bigger than this many elements are not
  // loaded: their nodes keep dtype and shape only (`loaded == false`). -1 loads everything.
  int64_t lazy_matrix_elements = -1;
  // true: no dataset under /obs is loaded either (the index, plain columns, categorical codes and
  // categories, nullable values and masks): their nodes keep dtype and shape only, so n_obs(),
  // dataframe_columns() and describe_column() work while obs_names() and column_strings() on obs
  // throw. Categorical codes are then not range-checked (io::H5adObsReader checks the rows it
  // reads). For readers that stream obs by blocks (store/ingest); not meant to be written back.
  bool lazy_obs = false;
};
AnnData read_h5ad(const std::string& path, const H5adReadOptions& options = {});

struct H5adWriteOptions {
  int gzip_level = 0;
};
// Writes `data` to `path` through a temporary file and rename; never half-written.
void write_h5ad(const AnnData& data, const std::string& path, const H5adWriteOptions& options = {});

// Writes a copy of `input` to `output` with elements added or replaced: `edit` receives the
// loaded tree (matrices lazily: not loaded) and changes obs/var columns, obsm, layers, uns...
// Unchanged matrices are copied inside HDF5 without passing through memory. Atomic.
void update_h5ad(const std::string& input, const std::string& output, const std::function<void(AnnData&)>& edit,
                 const H5adWriteOptions& options = {});

}  // namespace scfm::io
