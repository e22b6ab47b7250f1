#include "scfm/io/h5ad_stream.h"

#include "scfm/io/h5ad.h"
#include "scfm/io/hdf5.h"

namespace scfm::io {

struct H5adMatrixReader::Impl {
  std::string path;
  std::string where;  // HDF5 path of the matrix
  std::string encoding;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0, nnz = 0;
  h5::Handle file, data, indices, indptr, dense;
  CsrMatrix loaded;  // csc, transposed in memory
  bool in_memory = false;

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    throw FormatError(path, where + field, what);
  }
};

H5adMatrixReader::H5adMatrixReader(const std::string& path, const H5adStreamOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.path = path;
  m.file = h5::open_file(path);
  m.where = options.layer.empty() ? "/X" : "/layers/" + options.layer;
  if (!h5::exists(m.file, m.where)) {
    if (options.layer.empty()) m.bad("", "missing (this file has no X); choose a layer, e.g. --layer counts");
    m.bad("", "missing; no such layer");
  }
  if (h5::is_group(m.file, m.where)) {
    h5::Handle g = h5::open_group(m.file, m.where);
    m.encoding = h5::attr_string_or(g, "encoding-type", "");
    if (m.encoding.empty()) {
      std::string legacy = h5::attr_string_or(g, "h5sparse_format", "");
      if (!legacy.empty()) m.encoding = legacy + "_matrix";
    }
    if (m.encoding != "csr_matrix" && m.encoding != "csc_matrix")
      m.bad("", "encoding '" + m.encoding + "' is not a matrix; expected csr_matrix, csc_matrix or a dense array");
    const char* shape_attr = h5::has_attr(g, "shape") ? "shape" : "h5sparse_shape";
    if (!h5::has_attr(g, shape_attr)) m.bad("@shape", "missing; expected the matrix shape");
    auto shape = h5::read_attr(g, shape_attr).to<int64_t>();
    if (shape.size() != 2) m.bad("@shape", "expected two integers");
    m.rows = shape[0];
    m.cols = shape[1];
    m.data = h5::open_dataset(g, "data");
    m.indices = h5::open_dataset(g, "indices");
    m.indptr = h5::open_dataset(g, "indptr");
    for (hid_t d : {m.data.get(), m.indices.get(), m.indptr.get()}) h5::check_filters(d);
    auto dinfo = h5::dataset_info(m.data);
    auto iinfo = h5::dataset_info(m.indices);
    auto pinfo = h5::dataset_info(m.indptr);
    if (dinfo.dtype == DType::String) m.bad("/data", "unsupported dtype str; expected numbers");
    if (!dtype_is_integer(iinfo.dtype)) m.bad("/indices", std::string("unsupported dtype ") + dtype_name(iinfo.dtype) + "; expected integers");
    if (!dtype_is_integer(pinfo.dtype)) m.bad("/indptr", std::string("unsupported dtype ") + dtype_name(pinfo.dtype) + "; expected integers");
    m.dtype = dinfo.dtype;
    m.nnz = dinfo.shape.empty() ? 0 : dinfo.shape[0];
    if (iinfo.shape.empty() || iinfo.shape[0] != m.nnz)
      m.bad("/indices", "length differs from data (" + std::to_string(m.nnz) + ")");
    const int64_t major = m.encoding == "csr_matrix" ? m.rows : m.cols;
    if (pinfo.shape.empty() || pinfo.shape[0] != major + 1)
      m.bad("/indptr", "has " + std::to_string(pinfo.shape.empty() ? 0 : pinfo.shape[0]) + " entries; expected " +
                           std::to_string(major + 1) + " for shape " + std::to_string(m.rows) + " x " + std::to_string(m.cols));
    int64_t first = 0, last = 0;
    h5::read_rows_into(m.indptr, 0, 1, DType::I64, &first);
    h5::read_rows_into(m.indptr, major, 1, DType::I64, &last);
    if (first != 0) m.bad("/indptr", "does not start at 0");
    if (last != m.nnz) m.bad("/indptr", "ends at " + std::to_string(last) + "; expected nnz = " + std::to_string(m.nnz));
    if (m.encoding == "csc_matrix") {
      const int64_t bytes = m.nnz * 8 + (m.cols + 1) * 8;
      if (bytes > options.csc_memory_limit_bytes)
        m.bad("", "is a csc_matrix of " + std::to_string(m.nnz) + " entries (" + std::to_string(bytes >> 20) +
                      " MiB), too big to transpose in memory (limit " +
                      std::to_string(options.csc_memory_limit_bytes >> 20) +
                      " MiB) and a CSC matrix cannot be streamed by cells; convert it to CSR first, e.g. in "
                      "Python: adata = anndata.read_h5ad(path); adata.X = adata.X.tocsr(); adata.write_h5ad(path)");
      AnnData ad = read_h5ad(path);
      m.loaded = ad.matrix_csr(options.layer);
      m.in_memory = true;
    }
  } else {
    m.dense = h5::open_dataset(m.file, m.where);
    h5::check_filters(m.dense);
    auto info = h5::dataset_info(m.dense);
    if (info.shape.size() != 2) m.bad("", "expected a 2-D matrix");
    if (info.dtype == DType::String) m.bad("", "unsupported dtype str; expected numbers");
    m.encoding = "array";
    m.dtype = info.dtype;
    m.rows = info.shape[0];
    m.cols = info.shape[1];
    m.nnz = m.rows * m.cols;
  }
}

H5adMatrixReader::~H5adMatrixReader() = default;

int64_t H5adMatrixReader::n_rows() const { return impl_->rows; }
int64_t H5adMatrixReader::n_cols() const { return impl_->cols; }
int64_t H5adMatrixReader::nnz() const { return impl_->nnz; }
const std::string& H5adMatrixReader::encoding() const { return impl_->encoding; }
DType H5adMatrixReader::dtype() const { return impl_->dtype; }

CsrMatrix H5adMatrixReader::read_rows(int64_t start, int64_t count) {
  Impl& m = *impl_;
  if (start < 0 || count < 0 || start + count > m.rows)
    throw Error(m.path + ": " + m.where + ": rows [" + std::to_string(start) + ", " + std::to_string(start + count) +
                ") are outside the " + std::to_string(m.rows) + " rows");
  CsrMatrix out;
  out.n_rows = count;
  out.n_cols = m.cols;
  if (m.in_memory) {
    const int64_t b = m.loaded.indptr[start], e = m.loaded.indptr[start + count];
    out.indptr.resize(static_cast<size_t>(count + 1));
    for (int64_t r = 0; r <= count; ++r) out.indptr[r] = m.loaded.indptr[start + r] - b;
    out.indices.assign(m.loaded.indices.begin() + b, m.loaded.indices.begin() + e);
    out.data.assign(m.loaded.data.begin() + b, m.loaded.data.begin() + e);
    return out;
  }
  if (m.encoding == "array") {
    std::vector<float> block(static_cast<size_t>(count * m.cols));
    h5::read_rows_into(m.dense, start, count, DType::F32, block.data());
    for (int64_t r = 0; r < count; ++r) {
      for (int64_t c = 0; c < m.cols; ++c) {
        float v = block[r * m.cols + c];
        if (v != 0.0f) {
          out.indices.push_back(static_cast<int32_t>(c));
          out.data.push_back(v);
        }
      }
      out.indptr.push_back(out.nnz());
    }
    return out;
  }
  std::vector<int64_t> ptr(static_cast<size_t>(count + 1));
  h5::read_rows_into(m.indptr, start, count + 1, DType::I64, ptr.data());
  const int64_t b = ptr.front(), e = ptr.back();
  for (int64_t r = 0; r < count; ++r)
    if (ptr[r + 1] < ptr[r]) m.bad("/indptr", "is not monotone at row " + std::to_string(start + r));
  if (b < 0 || e > m.nnz) m.bad("/indptr", "points outside the " + std::to_string(m.nnz) + " stored entries");
  out.indptr.resize(ptr.size());
  for (size_t i = 0; i < ptr.size(); ++i) out.indptr[i] = ptr[i] - b;
  out.indices.resize(static_cast<size_t>(e - b));
  out.data.resize(static_cast<size_t>(e - b));
  h5::read_rows_into(m.indices, b, e - b, DType::I32, out.indices.data());
  h5::read_rows_into(m.data, b, e - b, DType::F32, out.data.data());
  for (size_t k = 0; k < out.indices.size(); ++k)
    if (out.indices[k] < 0 || out.indices[k] >= m.cols)
      m.bad("/indices", "entry " + std::to_string(b + static_cast<int64_t>(k)) + " is " + std::to_string(out.indices[k]) +
                            ", out of range; expected 0 <= index < " + std::to_string(m.cols));
  sort_indices(out);
  return out;
}

}  // namespace scfm::io
