#include "scfm/io/array_rows.h"

#include "scfm/util/error.h"

namespace scfm::io {
namespace {

// Copies view[offset, offset + count) into out, converting each element to T.
template <class T>
void load(const ArrayView& v, int64_t offset, int64_t count, T* out) {
  auto copy = [&](const auto* p) {
    p += offset;
    for (int64_t i = 0; i < count; ++i) out[i] = static_cast<T>(p[i]);
  };
  switch (v.dtype) {
    case DType::Bool: copy(static_cast<const bool*>(v.data)); break;
    case DType::I8: copy(static_cast<const int8_t*>(v.data)); break;
    case DType::I16: copy(static_cast<const int16_t*>(v.data)); break;
    case DType::I32: copy(static_cast<const int32_t*>(v.data)); break;
    case DType::I64: copy(static_cast<const int64_t*>(v.data)); break;
    case DType::U8: copy(static_cast<const uint8_t*>(v.data)); break;
    case DType::U16: copy(static_cast<const uint16_t*>(v.data)); break;
    case DType::U32: copy(static_cast<const uint32_t*>(v.data)); break;
    case DType::U64: copy(static_cast<const uint64_t*>(v.data)); break;
    case DType::F32: copy(static_cast<const float*>(v.data)); break;
    case DType::F64: copy(static_cast<const double*>(v.data)); break;
    case DType::String: throw Error("array of strings where numbers were expected");
  }
}

// integer: index arrays (integers only); otherwise values (any number, bool included).
void require_numbers(const std::string& name, const char* field, const ArrayView& v, bool integer) {
  if (v.dtype == DType::String || (integer && !dtype_is_integer(v.dtype)))
    throw FormatError(name, field, std::string("expected ") + (integer ? "integers" : "numbers") + ", found " +
                                       dtype_name(v.dtype));
  if (v.size > 0 && v.data == nullptr) throw FormatError(name, field, "no data");
}

}  // namespace

void ArrayRows::bad(const std::string& field, const std::string& what) const { throw FormatError(name_, field, what); }

ArrayRows::ArrayRows(std::string name, int64_t n_rows, int64_t n_cols, bool dense, ArrayView data)
    : name_(std::move(name)), n_rows_(n_rows), n_cols_(n_cols), dense_(dense), data_(data) {
  if (n_rows < 0 || n_cols < 0) bad("shape", "negative");
  if (n_cols > INT32_MAX) bad("shape", "more than 2^31 - 1 columns");
  require_numbers(name_, dense ? "values" : "data", data, false);
}

ArrayRows ArrayRows::csr(std::string name, int64_t n_rows, int64_t n_cols, ArrayView indptr, ArrayView indices,
                         ArrayView data) {
  ArrayRows a(std::move(name), n_rows, n_cols, false, data);
  a.indptr_ = indptr;
  a.indices_ = indices;
  require_numbers(a.name_, "indptr", indptr, true);
  require_numbers(a.name_, "indices", indices, true);
  if (indptr.size != n_rows + 1)
    a.bad("indptr", "has " + std::to_string(indptr.size) + " entries; expected n_obs + 1 = " + std::to_string(n_rows + 1));
  if (indices.size != data.size)
    a.bad("indices", "has " + std::to_string(indices.size) + " entries but data has " + std::to_string(data.size));
  int64_t first = 0, last = 0;
  load(indptr, 0, 1, &first);
  load(indptr, n_rows, 1, &last);
  if (first != 0) a.bad("indptr", "starts at " + std::to_string(first) + "; expected 0");
  if (last > indices.size)
    a.bad("indptr", "ends at " + std::to_string(last) + ", past the " + std::to_string(indices.size) + " stored entries");
  return a;
}

ArrayRows ArrayRows::dense(std::string name, int64_t n_rows, int64_t n_cols, ArrayView values) {
  ArrayRows a(std::move(name), n_rows, n_cols, true, values);
  if (values.size != n_rows * n_cols)
    a.bad("values", "has " + std::to_string(values.size) + " elements; expected " + std::to_string(n_rows) + " x " +
                        std::to_string(n_cols));
  return a;
}

int64_t ArrayRows::nnz() const {
  if (dense_) return n_rows_ * n_cols_;
  int64_t last = 0;
  load(indptr_, n_rows_, 1, &last);
  return last;
}

CsrMatrix ArrayRows::read_rows(int64_t start, int64_t count) {
  if (start < 0 || count < 0 || start + count > n_rows_)
    throw Error(name_ + ": rows [" + std::to_string(start) + ", " + std::to_string(start + count) +
                ") are outside the " + std::to_string(n_rows_) + " rows");
  CsrMatrix out;
  out.n_rows = count;
  out.n_cols = n_cols_;
  if (dense_) {
    std::vector<float> row(static_cast<size_t>(n_cols_));
    for (int64_t r = 0; r < count; ++r) {
      load(data_, (start + r) * n_cols_, n_cols_, row.data());
      for (int64_t c = 0; c < n_cols_; ++c)
        if (row[c] != 0.0f) {
          out.indices.push_back(static_cast<int32_t>(c));
          out.data.push_back(row[c]);
        }
      out.indptr.push_back(out.nnz());
    }
    return out;
  }
  std::vector<int64_t> ptr(static_cast<size_t>(count + 1));
  load(indptr_, start, count + 1, ptr.data());
  for (int64_t r = 0; r < count; ++r)
    if (ptr[r + 1] < ptr[r]) bad("indptr", "is not monotone at row " + std::to_string(start + r));
  const int64_t b = ptr.front(), e = ptr.back();
  if (b < 0 || e > indices_.size)
    bad("indptr", "points outside the " + std::to_string(indices_.size) + " stored entries");
  out.indptr.resize(ptr.size());
  for (size_t i = 0; i < ptr.size(); ++i) out.indptr[i] = ptr[i] - b;
  std::vector<int64_t> idx(static_cast<size_t>(e - b));
  load(indices_, b, e - b, idx.data());
  out.indices.resize(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] < 0 || idx[k] >= n_cols_)
      bad("indices", "entry " + std::to_string(b + static_cast<int64_t>(k)) + " is " + std::to_string(idx[k]) +
                         ", out of range; expected 0 <= index < " + std::to_string(n_cols_));
    out.indices[k] = static_cast<int32_t>(idx[k]);
  }
  out.data.resize(idx.size());
  load(data_, b, e - b, out.data.data());
  sort_indices(out);
  return out;
}

}  // namespace scfm::io
