#include "scfm/io/h5ad_subset.h"

#include <cstring>

namespace scfm::io {
namespace {

// Rows `idx` of an array along its first axis (any dtype, any rank).
Array take_rows(const Array& a, const std::vector<int64_t>& idx) {
  Array out;
  out.dtype = a.dtype;
  out.shape = a.shape;
  out.shape[0] = static_cast<int64_t>(idx.size());
  int64_t row = 1;
  for (size_t i = 1; i < a.shape.size(); ++i) row *= a.shape[i];
  if (a.is_string()) {
    for (int64_t r : idx)
      for (int64_t j = 0; j < row; ++j) out.strings.push_back(a.strings[r * row + j]);
    return out;
  }
  const size_t w = dtype_size(a.dtype) * static_cast<size_t>(row);
  out.bytes.resize(idx.size() * w);
  for (size_t i = 0; i < idx.size(); ++i) std::memcpy(out.bytes.data() + i * w, a.bytes.data() + idx[i] * w, w);
  return out;
}

// Columns `idx` of a 2-D array.
Array take_cols(const Array& a, const std::vector<int64_t>& idx) {
  Array out;
  out.dtype = a.dtype;
  out.shape = {a.shape[0], static_cast<int64_t>(idx.size())};
  const int64_t n = a.shape[1];
  const size_t w = dtype_size(a.dtype);
  if (a.is_string()) {
    for (int64_t r = 0; r < a.shape[0]; ++r)
      for (int64_t c : idx) out.strings.push_back(a.strings[r * n + c]);
    return out;
  }
  out.bytes.resize(static_cast<size_t>(a.shape[0]) * idx.size() * w);
  uint8_t* dst = out.bytes.data();
  for (int64_t r = 0; r < a.shape[0]; ++r)
    for (int64_t c : idx) {
      std::memcpy(dst, a.bytes.data() + (r * n + c) * w, w);
      dst += w;
    }
  return out;
}

// A compressed sparse matrix restricted to majors `major` and minors `minor` (empty = all),
// keeping its dtypes. Works on csr (major = rows) and csc (major = columns) alike.
Node take_sparse(const Node& m, const std::vector<int64_t>* major, const std::vector<int64_t>* minor) {
  auto shape = m.attr("shape")->to<int64_t>();
  const bool csr = m.encoding() == "csr_matrix";
  const int64_t n_major = csr ? shape[0] : shape[1];
  const int64_t n_minor = csr ? shape[1] : shape[0];
  std::vector<int64_t> indptr = m.child("indptr")->data.to<int64_t>();
  const Array& indices = m.child("indices")->data;
  std::vector<int64_t> remap;
  if (minor != nullptr) {
    remap.assign(static_cast<size_t>(n_minor), -1);
    for (size_t i = 0; i < minor->size(); ++i) remap[(*minor)[i]] = static_cast<int64_t>(i);
  }
  std::vector<int64_t> keep_entries, new_indices, new_indptr{0};
  auto visit = [&](int64_t r) {
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      int64_t c = indices.get<int64_t>(k);
      if (minor != nullptr && remap[c] < 0) continue;
      keep_entries.push_back(k);
      new_indices.push_back(minor != nullptr ? remap[c] : c);
    }
    new_indptr.push_back(static_cast<int64_t>(keep_entries.size()));
  };
  if (major != nullptr)
    for (int64_t r : *major) visit(r);
  else
    for (int64_t r = 0; r < n_major; ++r) visit(r);
  Node out = m;
  Array data = take_rows(m.child("data")->data, keep_entries);
  out.child("data")->data = std::move(data);
  Array ix;
  ix.dtype = indices.dtype;
  ix.shape = {static_cast<int64_t>(new_indices.size())};
  ix.bytes.resize(new_indices.size() * dtype_size(ix.dtype));
  for (size_t i = 0; i < new_indices.size(); ++i) {
    if (ix.dtype == DType::I64) reinterpret_cast<int64_t*>(ix.bytes.data())[i] = new_indices[i];
    else reinterpret_cast<int32_t*>(ix.bytes.data())[i] = static_cast<int32_t>(new_indices[i]);
  }
  if (ix.dtype != DType::I64 && ix.dtype != DType::I32) {
    ix = Array::from(std::vector<int32_t>(new_indices.begin(), new_indices.end()));
  }
  out.child("indices")->data = std::move(ix);
  if (m.child("indptr")->data.dtype == DType::I64)
    out.child("indptr")->data = Array::from(new_indptr);
  else
    out.child("indptr")->data = Array::from(std::vector<int32_t>(new_indptr.begin(), new_indptr.end()));
  int64_t new_major = static_cast<int64_t>(new_indptr.size()) - 1;
  int64_t new_minor = minor != nullptr ? static_cast<int64_t>(minor->size()) : n_minor;
  out.set_attr("shape", Array::from(csr ? std::vector<int64_t>{new_major, new_minor}
                                         : std::vector<int64_t>{new_minor, new_major}));
  return out;
}

// Any element indexed along rows (first axis) and/or columns (second axis).
Node take(const Node& n, const std::vector<int64_t>* rows, const std::vector<int64_t>* cols) {
  const std::string enc = n.encoding();
  if (enc == "csr_matrix") return take_sparse(n, rows, cols);
  if (enc == "csc_matrix") return take_sparse(n, cols, rows);
  if (enc == "dataframe") {
    Node out = n;
    for (auto& [k, c] : out.children) c = take(c, rows, nullptr);
    return out;
  }
  if (n.is_group) {  // categorical, nullable-*: each part is indexed alike, categories are not
    Node out = n;
    for (auto& [k, c] : out.children)
      if (k != "categories") c = take(c, rows, cols);
    return out;
  }
  Node out = n;
  if (rows != nullptr) out.data = take_rows(out.data, *rows);
  if (cols != nullptr) out.data = take_cols(out.data, *cols);
  return out;
}

}  // namespace

std::vector<int64_t> mask_to_indices(const std::vector<bool>& mask) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) out.push_back(static_cast<int64_t>(i));
  return out;
}

AnnData subset(const AnnData& data, const std::vector<int64_t>& obs, const std::vector<int64_t>& var) {
  AnnData out;
  out.path = data.path;
  out.root = data.root;
  Node& r = out.root;
  r.set("obs", take(*data.root.child("obs"), &obs, nullptr));
  r.set("var", take(*data.root.child("var"), &var, nullptr));
  if (const Node* x = data.root.child("X")) r.set("X", take(*x, &obs, &var));
  auto each = [&](const char* slot, const std::vector<int64_t>* rows, const std::vector<int64_t>* cols) {
    if (Node* g = r.child(slot))
      for (auto& [k, c] : g->children) c = take(c, rows, cols);
  };
  each("layers", &obs, &var);
  each("obsm", &obs, nullptr);
  each("varm", &var, nullptr);
  each("obsp", &obs, &obs);
  each("varp", &var, &var);
  if (Node* raw = r.child("raw")) {
    if (Node* x = raw->child("X")) *x = take(*x, &obs, nullptr);
    if (Node* obsm = raw->child("obsm"))
      for (auto& [k, c] : obsm->children) c = take(c, &obs, nullptr);
  }
  return out;
}

}  // namespace scfm::io
