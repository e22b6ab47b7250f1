#include "scfm/io/h5ad.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "scfm/io/hdf5.h"
#include "scfm/util/atomic_file.h"
#include "scfm/util/supervision.h"

namespace scfm::io {

// ---------------------------------------------------------------------------------------------
// Node

const Node* Node::child(const std::string& name) const {
  for (auto& [k, v] : children)
    if (k == name) return &v;
  return nullptr;
}

Node* Node::child(const std::string& name) {
  for (auto& [k, v] : children)
    if (k == name) return &v;
  return nullptr;
}

Node& Node::set(const std::string& name, Node node) {
  if (Node* existing = child(name)) {
    *existing = std::move(node);
    return *existing;
  }
  children.emplace_back(name, std::move(node));
  return children.back().second;
}

bool Node::remove(const std::string& name) {
  auto it = std::find_if(children.begin(), children.end(), [&](auto& kv) { return kv.first == name; });
  if (it == children.end()) return false;
  children.erase(it);
  return true;
}

const Array* Node::attr(const std::string& name) const {
  for (auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}

void Node::set_attr(const std::string& name, Array value) {
  for (auto& [k, v] : attrs)
    if (k == name) {
      v = std::move(value);
      return;
    }
  attrs.emplace_back(name, std::move(value));
}

std::string Node::attr_string(const std::string& name, const std::string& fallback) const {
  const Array* a = attr(name);
  if (a == nullptr || !a->is_string() || a->strings.size() != 1) return fallback;
  return a->strings[0];
}

std::string Node::encoding() const { return attr_string("encoding-type", is_group ? "dict" : "array"); }

std::vector<std::string> Node::keys() const {
  std::vector<std::string> out;
  for (auto& kv : children) out.push_back(kv.first);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builders

static void set_encoding(Node& n, const std::string& type, const std::string& version) {
  n.set_attr("encoding-type", Array::string_scalar(type));
  n.set_attr("encoding-version", Array::string_scalar(version));
}

Node make_dict() {
  Node n;
  n.is_group = true;
  set_encoding(n, "dict", "0.1.0");
  return n;
}

Node make_array(Array values) {
  Node n;
  n.data = std::move(values);
  if (n.data.is_string())
    set_encoding(n, n.data.is_scalar() ? "string" : "string-array", "0.2.0");
  else
    set_encoding(n, n.data.is_scalar() ? "numeric-scalar" : "array", "0.2.0");
  return n;
}

Node make_string_array(std::vector<std::string> values) { return make_array(Array::from_strings(std::move(values))); }
Node make_string(std::string value) { return make_array(Array::string_scalar(std::move(value))); }

Node make_categorical(std::vector<int32_t> codes, Node categories, bool ordered) {
  Node n;
  n.is_group = true;
  set_encoding(n, "categorical", "0.2.0");
  n.set_attr("ordered", Array::scalar<bool>(ordered));
  // pandas stores codes in the smallest integer type that holds them
  int64_t ncat = categories.data.size();
  Array c;
  if (ncat < 127) {
    std::vector<int8_t> v(codes.begin(), codes.end());
    c = Array::from(v);
  } else if (ncat < 32767) {
    std::vector<int16_t> v(codes.begin(), codes.end());
    c = Array::from(v);
  } else {
    c = Array::from(codes);
  }
  n.set("codes", make_array(std::move(c)));
  n.set("categories", std::move(categories));
  return n;
}

Node make_categorical_from_labels(const std::vector<std::string>& labels) {
  std::set<std::string> unique(labels.begin(), labels.end());
  std::vector<std::string> cats(unique.begin(), unique.end());
  std::map<std::string, int32_t> code;
  for (size_t i = 0; i < cats.size(); ++i) code[cats[i]] = static_cast<int32_t>(i);
  std::vector<int32_t> codes(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) codes[i] = code[labels[i]];
  return make_categorical(std::move(codes), make_string_array(std::move(cats)), false);
}

Node make_nullable(const std::string& encoding, Array values, std::vector<bool> mask) {
  Node n;
  n.is_group = true;
  set_encoding(n, encoding, "0.1.0");
  n.set("values", make_array(std::move(values)));
  n.set("mask", make_array(Array::from(mask)));
  return n;
}

Node make_csr(const CsrMatrix& m) {
  Node n;
  n.is_group = true;
  set_encoding(n, "csr_matrix", "0.1.0");
  n.set_attr("shape", Array::from(std::vector<int64_t>{m.n_rows, m.n_cols}));
  n.set("data", make_array(Array::from(m.data)));
  // scipy keeps both index arrays at one width, int32 while they fit (a CSR with int64 indptr and
  // int32 indices fails its column indexing, adata[:, genes])
  if (m.nnz() < INT32_MAX) {
    n.set("indices", make_array(Array::from(m.indices)));
    std::vector<int32_t> p(m.indptr.begin(), m.indptr.end());
    n.set("indptr", make_array(Array::from(p)));
  } else {
    n.set("indices", make_array(Array::from(std::vector<int64_t>(m.indices.begin(), m.indices.end()))));
    n.set("indptr", make_array(Array::from(m.indptr)));
  }
  return n;
}

Node make_dataframe(const std::string& index_name, std::vector<std::string> index) {
  Node n;
  n.is_group = true;
  set_encoding(n, "dataframe", "0.2.0");
  n.set_attr("_index", Array::string_scalar(index_name));
  n.set_attr("column-order", Array::from_strings({}));
  n.set(index_name, make_string_array(std::move(index)));
  return n;
}

void dataframe_set_column(Node& df, const std::string& name, Node column) {
  std::vector<std::string> order = dataframe_columns(df);
  if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  df.set_attr("column-order", Array::from_strings(order));
  df.set(name, std::move(column));
}

// ---------------------------------------------------------------------------------------------
// Columns

std::vector<std::string> dataframe_columns(const Node& df) {
  const Array* order = df.attr("column-order");
  if (order == nullptr || !order->is_string()) return {};
  return order->strings;
}

// Throws when a dataset of the element was not loaded (H5adReadOptions::lazy_obs).
static void require_loaded(const Node& n, const std::string& name) {
  if (!n.is_group && !n.loaded)
    throw Error("dataframe column '" + name + "' was opened without its values (lazy_obs); read it with "
                "io::H5adObsReader or without lazy_obs");
  for (auto& [k, c] : n.children) require_loaded(c, name);
}

std::vector<std::string> dataframe_index(const Node& df) {
  std::string index_name = df.attr_string("_index", "_index");
  const Node* idx = df.child(index_name);
  if (idx == nullptr) return {};
  if (idx->is_group) return column_strings(df, index_name);
  require_loaded(*idx, index_name);
  return index_strings(idx->data);
}

std::vector<std::string> index_strings(const Array& index) {
  if (index.is_string()) return index.strings;
  std::vector<std::string> out;
  for (int64_t i = 0; i < index.size(); ++i) out.push_back(std::to_string(index.get<int64_t>(i)));
  return out;
}

static int64_t element_length(const Node& n) {
  if (!n.is_group) return n.data.shape.empty() ? 1 : n.data.shape[0];
  const std::string enc = n.encoding();
  if (enc == "categorical") return element_length(*n.child("codes"));
  if (n.child("values") != nullptr) return element_length(*n.child("values"));
  return 0;
}

Column describe_column(const Node& df, const std::string& name) {
  const Node* n = df.child(name);
  if (n == nullptr) throw Error("dataframe has no column '" + name + "'");
  Column c;
  c.name = name;
  c.encoding = n->encoding();
  c.length = element_length(*n);
  if (c.encoding == "categorical") {
    const Node* cats = n->child("categories");
    c.dtype = cats->data.dtype;
    c.n_categories = cats->data.size();
    const Array* ordered = n->attr("ordered");
    c.ordered = ordered != nullptr && !ordered->is_string() && ordered->size() == 1 && ordered->get<int>(0) != 0;
  } else if (n->is_group && n->child("values") != nullptr) {
    c.dtype = n->child("values")->data.dtype;
  } else {
    c.dtype = n->data.dtype;
  }
  return c;
}

static std::string format_number(const Array& a, int64_t i) {
  char buf[64];
  if (a.dtype == DType::Bool) return a.get<int>(i) ? "True" : "False";
  if (dtype_is_float(a.dtype)) {
    double v = a.get<double>(i);
    if (std::isnan(v)) return "nan";
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
  }
  if (a.dtype == DType::U64) return std::to_string(a.get<uint64_t>(i));
  return std::to_string(a.get<int64_t>(i));
}

std::vector<std::string> array_strings(const Array& a) {
  if (a.is_string()) return a.strings;
  std::vector<std::string> out(static_cast<size_t>(a.size()));
  for (int64_t i = 0; i < a.size(); ++i) out[i] = format_number(a, i);
  return out;
}

std::string codes_out_of_range(const Array& codes, int64_t n_categories, int64_t first_row) {
  for (int64_t i = 0; i < codes.size(); ++i) {
    const int64_t c = codes.get<int64_t>(i);
    if (c < -1 || c >= n_categories)
      return "code " + std::to_string(c) + " at row " + std::to_string(first_row + i) +
             " is out of range; expected -1 (NA) or 0.." + std::to_string(n_categories - 1);
  }
  return "";
}

std::vector<std::string> categorical_strings(const Array& codes, const std::vector<std::string>& categories) {
  std::vector<std::string> out(static_cast<size_t>(codes.size()));
  for (int64_t i = 0; i < codes.size(); ++i) {
    const int64_t c = codes.get<int64_t>(i);
    if (c >= 0) out[i] = categories[static_cast<size_t>(c)];
  }
  return out;
}

void blank_masked(std::vector<std::string>& values, const Array& mask) {
  for (int64_t i = 0; i < mask.size(); ++i)
    if (mask.get<int>(i)) values[static_cast<size_t>(i)].clear();
}

std::vector<std::string> column_strings(const Node& df, const std::string& name) {
  const Node* n = df.child(name);
  if (n == nullptr) throw Error("dataframe has no column '" + name + "'");
  require_loaded(*n, name);
  if (!n->is_group) return array_strings(n->data);
  if (n->encoding() == "categorical")
    return categorical_strings(n->child("codes")->data, array_strings(n->child("categories")->data));
  std::vector<std::string> out = array_strings(n->child("values")->data);
  blank_masked(out, n->child("mask")->data);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

namespace {

struct ReadContext {
  std::string path;
  int64_t lazy = -1;
  bool lazy_obs = false;
};

bool is_matrix_slot(const std::string& hdf5_path) {
  // X, raw/X, and the members of layers, obsm, varm, obsp, varp, raw/varm
  static const char* const parents[] = {"/layers/", "/obsm/", "/varm/", "/obsp/", "/varp/", "/raw/varm/"};
  if (hdf5_path == "/X" || hdf5_path == "/raw/X") return true;
  for (const char* p : parents) {
    std::string prefix = p;
    if (hdf5_path.rfind(prefix, 0) == 0 && hdf5_path.find('/', prefix.size()) == std::string::npos) return true;
  }
  return false;
}

Node load(hid_t loc, const std::string& name, const std::string& hdf5_path, bool in_matrix, const ReadContext& ctx);

void load_attrs(hid_t obj, Node& n) {
  util::Hdf5Call call(h5::last_opened_file(), "(attributes)");
  call.object(h5::object_path(obj) + " (attributes)");
  int count = H5Aget_num_attrs(obj);
  for (int i = 0; i < count; ++i) {
    h5::Handle a(H5Aopen_by_idx(obj, ".", H5_INDEX_CRT_ORDER, H5_ITER_INC, static_cast<hsize_t>(i), H5P_DEFAULT,
                                H5P_DEFAULT));
    if (!a.valid()) a = h5::Handle(H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, static_cast<hsize_t>(i),
                                                  H5P_DEFAULT, H5P_DEFAULT));
    if (!a.valid()) continue;
    ssize_t len = H5Aget_name(a, 0, nullptr);
    if (len < 0) continue;
    std::string aname(static_cast<size_t>(len) + 1, '\0');
    H5Aget_name(a, aname.size(), aname.data());
    aname.resize(static_cast<size_t>(len));
    if (h5::attr_is_reference(obj, aname)) continue;  // legacy categorical links, resolved below
    n.attrs.emplace_back(aname, h5::read_attr(obj, aname));
  }
  H5Eclear2(H5E_DEFAULT);
}

bool unsupported_type(hid_t dset) {
  util::Hdf5Call call(h5::last_opened_file(), "(dataset type)");
  h5::Handle t(H5Dget_type(dset));
  H5T_class_t c = H5Tget_class(t);
  return c == H5T_COMPOUND || c == H5T_REFERENCE || c == H5T_OPAQUE || c == H5T_VLEN || c == H5T_ARRAY;
}

// Makes `n` a dataset's node without its values: dtype and shape, and where to find them.
void set_lazy(Node& n, hid_t d, const std::string& hdf5_path, const h5::DatasetInfo& info) {
  n.loaded = false;
  n.source = hdf5_path;
  n.data.dtype = info.dtype;
  n.data.shape = info.shape;
  h5::check_filters(d);
}

bool in_obs(const std::string& hdf5_path) { return hdf5_path.rfind("/obs/", 0) == 0; }

Node load_dataset(hid_t loc, const std::string& name, const std::string& hdf5_path, bool in_matrix,
                  const ReadContext& ctx) {
  h5::Handle d = h5::open_dataset(loc, name);
  Node n;
  load_attrs(d, n);
  if (unsupported_type(d)) {
    // e.g. anndata 0.7's record arrays in uns: kept as they are and copied through on write
    n.loaded = false;
    n.source = hdf5_path;
    n.data.dtype = DType::U8;
    set_encoding(n, "rec-array", "0.2.0");
    return n;
  }
  h5::DatasetInfo info = h5::dataset_info(d);
  int64_t size = 1;
  for (int64_t s : info.shape) size *= s;
  if ((in_matrix && ctx.lazy >= 0 && size > ctx.lazy) || (ctx.lazy_obs && in_obs(hdf5_path))) {
    set_lazy(n, d, hdf5_path, info);
  } else {
    n.data = h5::read_dataset(d);
  }
  return n;
}

// anndata 0.7: a categorical column is its codes dataset with an object reference to the
// categories (in __categories/<name>), which carry an `ordered` attribute.
Node load_legacy_categorical(hid_t df, const std::string& name, const std::string& hdf5_path, const ReadContext& ctx) {
  h5::Handle codes_d = h5::open_dataset(df, name);
  h5::Handle cats_d = h5::deref_attr(codes_d, "categories");
  Node cats = make_array(h5::read_dataset(cats_d));
  if (cats.data.is_string()) set_encoding(cats, "string-array", "0.2.0");
  bool ordered = false;
  if (h5::has_attr(cats_d, "ordered")) ordered = h5::read_attr(cats_d, "ordered").get<int>(0) != 0;
  Node n;
  n.is_group = true;
  set_encoding(n, "categorical", "0.2.0");
  n.set_attr("ordered", Array::scalar<bool>(ordered));
  if (ctx.lazy_obs && in_obs(hdf5_path)) {
    Node codes;
    set_lazy(codes, codes_d, hdf5_path, h5::dataset_info(codes_d));
    set_encoding(codes, "array", "0.2.0");
    n.set("codes", std::move(codes));
  } else {
    n.set("codes", make_array(h5::read_dataset(codes_d)));
  }
  n.set("categories", std::move(cats));
  return n;
}

Node load_group(hid_t loc, const std::string& name, const std::string& hdf5_path, bool in_matrix,
                const ReadContext& ctx) {
  h5::Handle g = name == "/" ? h5::Handle(H5Gopen2(loc, "/", H5P_DEFAULT)) : h5::open_group(loc, name);
  Node n;
  n.is_group = true;
  load_attrs(g, n);
  const bool dataframe = h5::has_attr(g, "_index");
  for (const std::string& child : h5::list(g)) {
    std::string child_path = (hdf5_path == "/" ? "" : hdf5_path) + "/" + child;
    if (dataframe && child == "__categories") continue;
    if (dataframe && h5::is_dataset(g, child)) {
      h5::Handle d = h5::open_dataset(g, child);
      if (h5::attr_is_reference(d, "categories")) {
        n.children.emplace_back(child, load_legacy_categorical(g, child, child_path, ctx));
        continue;
      }
    }
    bool child_in_matrix = in_matrix || is_matrix_slot(child_path);
    n.children.emplace_back(child, load(g, child, child_path, child_in_matrix, ctx));
  }
  return n;
}

Node load(hid_t loc, const std::string& name, const std::string& hdf5_path, bool in_matrix, const ReadContext& ctx) {
  if (name == "/" || h5::is_group(loc, name)) return load_group(loc, name, hdf5_path, in_matrix, ctx);
  return load_dataset(loc, name, hdf5_path, in_matrix, ctx);
}

void drop_attr(Node& n, const std::string& name) {
  n.attrs.erase(std::remove_if(n.attrs.begin(), n.attrs.end(), [&](auto& kv) { return kv.first == name; }),
                n.attrs.end());
}

// Gives every element the anndata 0.8+ encoding attributes.
void normalize(Node& n, bool is_root) {
  if (is_root) {
    set_encoding(n, "anndata", "0.1.0");
  } else if (n.is_group) {
    if (n.attr("h5sparse_format") != nullptr) {  // anndata < 0.7 sparse
      std::string fmt = n.attr_string("h5sparse_format", "csr");
      set_encoding(n, fmt == "csc" ? "csc_matrix" : "csr_matrix", "0.1.0");
      if (const Array* shape = n.attr("h5sparse_shape")) n.set_attr("shape", Array::from(shape->to<int64_t>()));
      drop_attr(n, "h5sparse_format");
      drop_attr(n, "h5sparse_shape");
    } else if (n.attr("encoding-type") == nullptr) {
      if (n.attr("_index") != nullptr)
        set_encoding(n, "dataframe", "0.2.0");
      else
        set_encoding(n, "dict", "0.1.0");
    }
    if (n.encoding() == "dataframe") {
      n.set_attr("encoding-version", Array::string_scalar("0.2.0"));
      const Array* order = n.attr("column-order");
      if (order == nullptr || !order->is_string()) n.set_attr("column-order", Array::from_strings({}));
    }
  } else if (n.attr("encoding-type") == nullptr) {  // lazy nodes too: they keep dtype and shape
    if (n.data.is_string())
      set_encoding(n, n.data.is_scalar() ? "string" : "string-array", "0.2.0");
    else
      set_encoding(n, n.data.is_scalar() ? "numeric-scalar" : "array", "0.2.0");
  }
  for (auto& [k, c] : n.children) normalize(c, false);
}

[[noreturn]] void bad(const ReadContext& ctx, const std::string& path, const std::string& what) {
  throw FormatError(ctx.path, path, what);
}

int64_t length_of(const Node& n) {
  if (!n.is_group) return n.data.shape.empty() ? 1 : n.data.shape[0];
  return element_length(n);
}

void validate_sparse(const Node& n, const std::string& path, const ReadContext& ctx) {
  const bool csr = n.encoding() == "csr_matrix";
  for (const char* part : {"data", "indices", "indptr"})
    if (n.child(part) == nullptr || n.child(part)->is_group)
      bad(ctx, path + "/" + part, "missing; a " + n.encoding() + " needs data, indices and indptr datasets");
  const Array* shape_attr = n.attr("shape");
  if (shape_attr == nullptr || shape_attr->is_string() || shape_attr->size() != 2)
    bad(ctx, path + "@shape", "missing or not two integers; expected the matrix shape (rows, columns)");
  std::vector<int64_t> shape = shape_attr->to<int64_t>();
  const Node& data = *n.child("data");
  const Node& indices = *n.child("indices");
  const Node& indptr = *n.child("indptr");
  if (!dtype_is_integer(indptr.data.dtype)) bad(ctx, path + "/indptr", std::string("unsupported dtype ") + dtype_name(indptr.data.dtype) + "; expected integers");
  if (!dtype_is_integer(indices.data.dtype)) bad(ctx, path + "/indices", std::string("unsupported dtype ") + dtype_name(indices.data.dtype) + "; expected integers");
  if (data.data.is_string()) bad(ctx, path + "/data", "unsupported dtype str; expected numbers");
  const int64_t major = csr ? shape[0] : shape[1];
  const int64_t minor = csr ? shape[1] : shape[0];
  const int64_t nnz = length_of(data);
  if (length_of(indices) != nnz)
    bad(ctx, path + "/indices", "has " + std::to_string(length_of(indices)) + " entries but data has " +
                                    std::to_string(nnz) + "; expected the same number");
  if (length_of(indptr) != major + 1)
    bad(ctx, path + "/indptr", "has " + std::to_string(length_of(indptr)) + " entries; expected " +
                                   std::to_string(major + 1) + " (shape " + std::to_string(shape[0]) + " x " +
                                   std::to_string(shape[1]) + ")");
  if (indptr.loaded) {
    const Array& p = indptr.data;
    if (p.size() > 0 && p.get<int64_t>(0) != 0) bad(ctx, path + "/indptr", "does not start at 0");
    for (int64_t i = 1; i < p.size(); ++i)
      if (p.get<int64_t>(i) < p.get<int64_t>(i - 1))
        bad(ctx, path + "/indptr", "is not monotone (entry " + std::to_string(i) + " is smaller than the one before)");
    if (p.size() > 0 && p.get<int64_t>(p.size() - 1) != nnz)
      bad(ctx, path + "/indptr", "ends at " + std::to_string(p.get<int64_t>(p.size() - 1)) + "; expected nnz = " +
                                     std::to_string(nnz));
  }
  if (indices.loaded) {
    const Array& ix = indices.data;
    for (int64_t i = 0; i < ix.size(); ++i) {
      int64_t v = ix.get<int64_t>(i);
      if (v < 0 || v >= minor)
        bad(ctx, path + "/indices", "entry " + std::to_string(i) + " is " + std::to_string(v) +
                                        ", out of range; expected 0 <= index < " + std::to_string(minor));
    }
  }
}

void validate(const Node& n, const std::string& path, const ReadContext& ctx) {
  const std::string enc = n.encoding();
  if (enc == "csr_matrix" || enc == "csc_matrix") {
    validate_sparse(n, path, ctx);
  } else if (enc == "categorical") {
    const Node* codes = n.child("codes");
    const Node* cats = n.child("categories");
    if (codes == nullptr || cats == nullptr) bad(ctx, path, "categorical without codes or categories");
    if (!dtype_is_integer(codes->data.dtype)) bad(ctx, path + "/codes", std::string("unsupported dtype ") + dtype_name(codes->data.dtype) + "; expected integer codes");
    if (codes->loaded) {
      const std::string wrong = codes_out_of_range(codes->data, cats->data.size());
      if (!wrong.empty()) bad(ctx, path + "/codes", wrong);
    }
  } else if (enc.rfind("nullable-", 0) == 0) {
    if (n.child("values") == nullptr || n.child("mask") == nullptr) bad(ctx, path, enc + " without values or mask");
    if (length_of(*n.child("values")) != length_of(*n.child("mask")))
      bad(ctx, path + "/mask", "length differs from values");
  } else if (enc == "dataframe") {
    std::string index_name = n.attr_string("_index", "_index");
    const Node* idx = n.child(index_name);
    if (idx == nullptr) bad(ctx, path + "/" + index_name, "missing; the dataframe's _index attribute names it");
    int64_t len = length_of(*idx);
    for (const std::string& col : dataframe_columns(n)) {
      const Node* c = n.child(col);
      if (c == nullptr) bad(ctx, path + "/" + col, "listed in column-order but missing");
      validate(*c, path + "/" + col, ctx);
      if (length_of(*c) != len)
        bad(ctx, path + "/" + col, "has " + std::to_string(length_of(*c)) + " rows; expected " + std::to_string(len) +
                                       " (the length of the index)");
    }
    return;
  }
  for (auto& [k, c] : n.children) validate(c, (path == "/" ? "" : path) + "/" + k, ctx);
}

std::vector<int64_t> matrix_shape(const Node& m) {
  if (m.is_group) {
    const Array* s = m.attr("shape");
    return s != nullptr ? s->to<int64_t>() : std::vector<int64_t>{};
  }
  return m.data.shape;
}

}  // namespace

AnnData read_h5ad(const std::string& path, const H5adReadOptions& options) {
  h5::Handle file = h5::open_file(path);
  ReadContext ctx{path, options.lazy_matrix_elements, options.lazy_obs};
  AnnData ad;
  ad.path = path;
  ad.root = load(file, "/", "/", false, ctx);
  normalize(ad.root, true);
  if (ad.root.child("obs") == nullptr) bad(ctx, "/obs", "missing; expected the obs dataframe");
  if (ad.root.child("var") == nullptr) bad(ctx, "/var", "missing; expected the var dataframe");
  validate(ad.root, "/", ctx);
  const int64_t n_obs = length_of(*ad.root.child("obs")->child(ad.root.child("obs")->attr_string("_index", "_index")));
  const int64_t n_var = length_of(*ad.root.child("var")->child(ad.root.child("var")->attr_string("_index", "_index")));
  if (const Node* x = ad.root.child("X")) {
    auto shape = matrix_shape(*x);
    if (shape.size() != 2) bad(ctx, "/X", "expected a 2-D matrix");
    if (shape[0] != n_obs || shape[1] != n_var)
      bad(ctx, "/X", "shape " + std::to_string(shape[0]) + " x " + std::to_string(shape[1]) + " disagrees with obs (" +
                         std::to_string(n_obs) + ") x var (" + std::to_string(n_var) + ")");
  }
  if (const Node* layers = ad.root.child("layers")) {
    for (auto& [k, m] : layers->children) {
      auto shape = matrix_shape(m);
      if (shape.size() != 2 || shape[0] != n_obs || shape[1] != n_var)
        bad(ctx, "/layers/" + k, "shape disagrees with obs x var (" + std::to_string(n_obs) + " x " +
                                     std::to_string(n_var) + ")");
    }
  }
  return ad;
}

// ---------------------------------------------------------------------------------------------
// AnnData

static const Node& index_node(const Node& df) {
  const Node* idx = df.child(df.attr_string("_index", "_index"));
  if (idx == nullptr) throw Error("dataframe without its index column");
  return *idx;
}

int64_t AnnData::n_obs() const { return length_of(index_node(obs())); }
int64_t AnnData::n_vars() const { return length_of(index_node(var())); }

const Node& AnnData::obs() const {
  const Node* n = root.child("obs");
  if (n == nullptr) throw FormatError(path, "/obs", "missing");
  return *n;
}
const Node& AnnData::var() const {
  const Node* n = root.child("var");
  if (n == nullptr) throw FormatError(path, "/var", "missing");
  return *n;
}
Node& AnnData::obs() { return const_cast<Node&>(static_cast<const AnnData*>(this)->obs()); }
Node& AnnData::var() { return const_cast<Node&>(static_cast<const AnnData*>(this)->var()); }

const Node& AnnData::matrix(const std::string& layer) const {
  if (layer.empty()) {
    const Node* x = root.child("X");
    if (x == nullptr)
      throw FormatError(path, "/X", "missing (this file has no X); choose a layer, e.g. --layer counts");
    return *x;
  }
  const Node* layers = root.child("layers");
  const Node* m = layers != nullptr ? layers->child(layer) : nullptr;
  if (m == nullptr) {
    std::string have;
    if (layers != nullptr)
      for (auto& k : layers->keys()) have += (have.empty() ? "" : ", ") + k;
    throw FormatError(path, "/layers/" + layer, "missing; the layers are: " + (have.empty() ? "(none)" : have));
  }
  return *m;
}

void AnnData::set_matrix(const std::string& layer, Node m) {
  if (layer.empty()) {
    root.set("X", std::move(m));
    return;
  }
  if (root.child("layers") == nullptr) root.set("layers", make_dict());
  root.child("layers")->set(layer, std::move(m));
}

CsrMatrix AnnData::matrix_csr(const std::string& layer) const {
  const Node& m = matrix(layer);
  const std::string where = layer.empty() ? "/X" : "/layers/" + layer;
  const std::string enc = m.encoding();
  CsrMatrix out;
  if (enc == "csr_matrix" || enc == "csc_matrix") {
    for (const char* part : {"data", "indices", "indptr"})
      if (!m.child(part)->loaded) throw Error(path + ": " + where + " was opened lazily; read it fully first");
    auto shape = m.attr("shape")->to<int64_t>();
    const bool csr = enc == "csr_matrix";
    out.n_rows = csr ? shape[0] : shape[1];
    out.n_cols = csr ? shape[1] : shape[0];
    out.indptr = m.child("indptr")->data.to<int64_t>();
    out.indices = m.child("indices")->data.to<int32_t>();
    out.data = m.child("data")->data.to<float>();
    if (!csr) out = transpose(out);
    sort_indices(out);
    return out;
  }
  if (m.is_group || m.data.shape.size() != 2) throw FormatError(path, where, "expected a 2-D matrix");
  if (!m.loaded) throw Error(path + ": " + where + " was opened lazily; read it fully first");
  out.n_rows = m.data.shape[0];
  out.n_cols = m.data.shape[1];
  out.indptr.assign(1, 0);
  for (int64_t r = 0; r < out.n_rows; ++r) {
    for (int64_t c = 0; c < out.n_cols; ++c) {
      float v = m.data.get<float>(r * out.n_cols + c);
      if (v != 0.0f) {
        out.indices.push_back(static_cast<int32_t>(c));
        out.data.push_back(v);
      }
    }
    out.indptr.push_back(out.nnz());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

struct WriteContext {
  h5::WriteOptions opt;
  hid_t source = H5I_INVALID_HID;  // the file lazy nodes are copied from
  std::string source_path;
  std::string target_path;  // the file being written (for the supervisor's message)
};

void write_attrs(hid_t obj, const Node& n) {
  for (auto& [k, v] : n.attrs) h5::write_attr(obj, k, v);
}

void write_node(hid_t loc, const std::string& name, const Node& n, const WriteContext& ctx) {
  if (n.is_group) {
    h5::Handle g = h5::create_group(loc, name);
    write_attrs(g, n);
    for (auto& [k, c] : n.children) write_node(g, k, c, ctx);
    g.close();
    return;
  }
  if (!n.loaded) {
    if (ctx.source < 0) throw Error("internal: a lazily read element has no source file to copy from");
    util::Hdf5Call call(ctx.target_path, name, /*writing=*/true);  // libhdf5 crashes here after a failed write
    if (H5Ocopy(ctx.source, n.source.c_str(), loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
      throw FormatError(ctx.source_path, n.source, "cannot copy into the output file");
    h5::Handle d(H5Dopen2(loc, name.c_str(), H5P_DEFAULT));
    write_attrs(d, n);
    d.close();
    return;
  }
  h5::WriteOptions opt = ctx.opt;
  h5::Handle d = h5::write_dataset(loc, name, n.data, opt);
  write_attrs(d, n);
  d.close();  // a small dataset's bytes wait in its sieve buffer until here
}

bool has_lazy(const Node& n) {
  if (!n.is_group) return !n.loaded;
  for (auto& kv : n.children)
    if (has_lazy(kv.second)) return true;
  return false;
}

void write_tree(const AnnData& data, const std::string& path, const H5adWriteOptions& options) {
  util::AtomicPath out(path);
  try {
    WriteContext ctx;
    ctx.opt.gzip_level = options.gzip_level;
    ctx.target_path = path;
    h5::Handle source;
    if (has_lazy(data.root)) {
      source = h5::open_file(data.path);
      ctx.source = source;
      ctx.source_path = data.path;
    }
    h5::Handle file = h5::create_file(out.temp());
    h5::Handle root(H5Gopen2(file, "/", H5P_DEFAULT));
    write_attrs(root, data.root);
    for (auto& [k, c] : data.root.children) write_node(root, k, c, ctx);
    root.close();
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw Error(path + ": write failed (disk full?) while flushing the file");
    // closing writes the superblock's final end-of-file address: a failure there is a broken file
    if (H5Fclose(file.release()) < 0) throw Error(path + ": write failed (disk full?) while closing the file");
  } catch (const Error& e) {  // name the file the user asked for, not its temporary
    std::string what = e.what();
    for (size_t at; (at = what.find(out.temp())) != std::string::npos;) what.replace(at, out.temp().size(), path);
    throw Error(what);
  }
  out.commit();
}

}  // namespace

void write_h5ad(const AnnData& data, const std::string& path, const H5adWriteOptions& options) {
  write_tree(data, path, options);
}

void update_h5ad(const std::string& input, const std::string& output, const std::function<void(AnnData&)>& edit,
                 const H5adWriteOptions& options) {
  H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;  // matrices are copied inside HDF5
  AnnData ad = read_h5ad(input, ro);
  edit(ad);
  write_tree(ad, output, options);
}

}  // namespace scfm::io
