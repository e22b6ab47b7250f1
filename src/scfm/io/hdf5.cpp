#include "scfm/io/hdf5.h"

#include "scfm/io/lzf_filter.h"
#include "scfm/util/supervision.h"

#include <H5Zpublic.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace scfm::io::h5 {
namespace {

// HDF5 prints its error stack to stderr by default; we turn errors into exceptions instead.
struct SilenceHdf5 {
  SilenceHdf5() {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    register_lzf_filter();
  }
};
const SilenceHdf5 silence_hdf5;

herr_t innermost_error(unsigned n, const H5E_error2_t* err, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (n == 0 && err->desc != nullptr) *s = err->desc;
  return 0;
}

// The innermost message on HDF5's error stack (the most specific), or "".
std::string hdf5_reason() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost_error, &s);
  H5Eclear2(H5E_DEFAULT);
  return s.empty() ? std::string() : " (HDF5: " + s + ")";
}

const char* filter_name(H5Z_filter_t id) {
  switch (id) {
    case 1: return "gzip/deflate";
    case 2: return "shuffle";
    case 3: return "fletcher32";
    case 4: return "szip";
    case 5: return "nbit";
    case 6: return "scaleoffset";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32015: return "zstd";
    default: return "unknown";
  }
}

hid_t native_type(DType t) {
  switch (t) {
    case DType::Bool: return H5T_NATIVE_INT8;
    case DType::I8: return H5T_NATIVE_INT8;
    case DType::I16: return H5T_NATIVE_INT16;
    case DType::I32: return H5T_NATIVE_INT32;
    case DType::I64: return H5T_NATIVE_INT64;
    case DType::U8: return H5T_NATIVE_UINT8;
    case DType::U16: return H5T_NATIVE_UINT16;
    case DType::U32: return H5T_NATIVE_UINT32;
    case DType::U64: return H5T_NATIVE_UINT64;
    case DType::F32: return H5T_NATIVE_FLOAT;
    case DType::F64: return H5T_NATIVE_DOUBLE;
    case DType::String: break;
  }
  return H5I_INVALID_HID;
}

// h5py stores numpy bools as an int8 enum {FALSE = 0, TRUE = 1}.
Handle bool_type() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8));
  int8_t v = 0;
  H5Tenum_insert(t, "FALSE", &v);
  v = 1;
  H5Tenum_insert(t, "TRUE", &v);
  return t;
}

Handle vlen_string_type(H5T_cset_t cset = H5T_CSET_UTF8) {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, cset);
  return t;
}

// Maps a file type to our dtype; `obj` and `child` only name the thing in errors.
DType dtype_from_type(hid_t type, hid_t obj, const std::string& child) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER: {
      bool sign = H5Tget_sign(type) == H5T_SGN_2;
      switch (size) {
        case 1: return sign ? DType::I8 : DType::U8;
        case 2: return sign ? DType::I16 : DType::U16;
        case 4: return sign ? DType::I32 : DType::U32;
        case 8: return sign ? DType::I64 : DType::U64;
      }
      break;
    }
    case H5T_FLOAT:
      if (size == 4) return DType::F32;
      if (size == 8) return DType::F64;
      fail(obj, child, "unsupported dtype: float of " + std::to_string(size * 8) +
                           " bits; expected float32 or float64");
    case H5T_ENUM: {
      // numpy bool (h5py enum FALSE/TRUE); other enums read as their integer base type
      int n = H5Tget_nmembers(type);
      if (n == 2 && size == 1) {
        char* m0 = H5Tget_member_name(type, 0);
        std::string name0 = m0 ? m0 : "";
        H5free_memory(m0);
        if (name0 == "FALSE" || name0 == "TRUE") return DType::Bool;
      }
      Handle base(H5Tget_super(type));
      return dtype_from_type(base, obj, child);
    }
    case H5T_STRING: return DType::String;
    case H5T_COMPOUND:
      fail(obj, child, "unsupported dtype: compound (structured) records, as written by anndata < 0.7; "
                       "re-save the file with anndata >= 0.7");
    case H5T_REFERENCE:
      fail(obj, child, "unsupported dtype: object references where values were expected");
    default: break;
  }
  fail(obj, child, "unsupported dtype (HDF5 class " + std::to_string(static_cast<int>(cls)) + ", " +
                       std::to_string(size) + " bytes); expected bool, int8..int64, uint8..uint64, float32, "
                       "float64 or strings");
}

// Reads strings of `type` from a dataset or attribute (read_fn does the H5Dread/H5Aread).
template <class ReadFn>
std::vector<std::string> read_strings(hid_t file_type, size_t n, ReadFn read_fn, hid_t obj, const std::string& child) {
  std::vector<std::string> out(n);
  if (n == 0) return out;
  if (H5Tis_variable_str(file_type) > 0) {
    Handle mem = vlen_string_type(H5Tget_cset(file_type));
    std::vector<char*> ptrs(n, nullptr);
    if (read_fn(mem.get(), ptrs.data()) < 0) fail(obj, child, "cannot read strings" + hdf5_reason());
    for (size_t i = 0; i < n; ++i) {
      if (ptrs[i] != nullptr) out[i] = ptrs[i];
      H5free_memory(ptrs[i]);
    }
  } else {
    size_t width = H5Tget_size(file_type);
    Handle mem(H5Tcopy(file_type));
    std::vector<char> buf(n * width);
    if (read_fn(mem.get(), buf.data()) < 0) fail(obj, child, "cannot read strings" + hdf5_reason());
    H5T_str_t pad = H5Tget_strpad(file_type);
    for (size_t i = 0; i < n; ++i) {
      const char* p = buf.data() + i * width;
      size_t len = strnlen(p, width);
      if (pad == H5T_STR_SPACEPAD)
        while (len > 0 && p[len - 1] == ' ') --len;
      out[i].assign(p, len);
    }
  }
  return out;
}

std::vector<int64_t> space_shape(hid_t space) {
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank <= 0) return {};  // scalar (or null)
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

std::string& current_file() {
  static std::string f;
  return f;
}

}  // namespace

const std::string& last_opened_file() { return current_file(); }

// A relative path is named from its parent's path (the names come from HDF5, inside the call).
static void name_child(util::Hdf5Call& call, hid_t loc, const std::string& path) {
  if (!path.empty() && path[0] == '/') return;
  const std::string parent = object_path(loc);
  call.object((parent == "/" ? "" : parent) + "/" + path);
}

#define SCFM_H5(what) ::scfm::util::Hdf5Call h5_call_(current_file(), what)

void Handle::reset() {
  SCFM_H5("(closing an object)");
  if (id_ >= 0) H5Idec_ref(id_);
  id_ = H5I_INVALID_HID;
}

void Handle::close() {
  if (id_ < 0) return;
  const H5I_type_t type = H5Iget_type(id_);
  const std::string file = file_name(id_);
  const std::string object = type == H5I_FILE ? "/" : object_path(id_);
  SCFM_H5("(closing an object)");
  h5_call_.object(object);
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  herr_t rc = 0;
  switch (type) {  // the type's own close removes the identifier even when it fails
    case H5I_DATASET: rc = H5Dclose(id); break;
    case H5I_GROUP: rc = H5Gclose(id); break;
    case H5I_ATTR: rc = H5Aclose(id); break;
    case H5I_FILE: rc = H5Fclose(id); break;
    default: rc = H5Idec_ref(id) < 0 ? -1 : 0; break;
  }
  if (rc < 0) {
    H5Eclear2(H5E_DEFAULT);  // its innermost message ("can't decrement count on dataset ID") says nothing more
    throw Error(file + ": write failed (disk full?) while closing " + object + "; the file was not written");
  }
}

std::string file_name(hid_t obj) {
  SCFM_H5("(file name)");
  ssize_t n = H5Fget_name(obj, nullptr, 0);
  if (n <= 0) return current_file().empty() ? "<hdf5>" : current_file();  // HDF5 lost track: the file being read
  std::string s(static_cast<size_t>(n) + 1, '\0');
  H5Fget_name(obj, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

std::string object_path(hid_t obj) {
  ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n <= 0) return "/";
  std::string s(static_cast<size_t>(n) + 1, '\0');
  H5Iget_name(obj, s.data(), s.size());
  s.resize(static_cast<size_t>(n));
  return s;
}

void fail(hid_t obj, const std::string& child, const std::string& what) {
  std::string path = object_path(obj);
  if (!child.empty()) path = (path == "/" ? "" : path) + "/" + child;
  throw FormatError(file_name(obj), path, what);
}

Handle open_file(const std::string& path, bool writable) {
  SCFM_H5("/");
  if (!std::filesystem::exists(path)) throw FormatError(path, "/", "no such file");
  current_file() = path;
  h5_call_.object("/ (superblock)");
  // test hook: stay "inside HDF5" this many seconds (the supervisor's hang limit is tested with it)
  if (const char* stall = std::getenv("SCFM_TEST_HDF5_STALL")) std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(stall)));
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw FormatError(path, "/", "not an HDF5 file (no HDF5 signature); expected an .h5ad or 10x .h5 file");
  }
  hid_t f = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) throw FormatError(path, "/", "cannot open as HDF5: the file is truncated or corrupt" + hdf5_reason());
  return Handle(f);
}

Handle create_file(const std::string& path) {
  // Track creation order so groups list their members in the order we wrote them.
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  if (f < 0) throw FormatError(path, "/", "cannot create the file" + hdf5_reason());
  return Handle(f);
}

bool exists(hid_t loc, const std::string& path) {
  SCFM_H5(path);
  name_child(h5_call_, loc, path);
  // H5Lexists needs every intermediate component to exist, so walk them.
  std::string prefix;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string part = path.substr(pos, next - pos);
    if (!part.empty()) {
      prefix += (prefix.empty() ? "" : "/") + part;
      htri_t e = H5Lexists(loc, prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    pos = next + 1;
  }
  return true;
}

static H5O_type_t object_type(hid_t loc, const std::string& path) {
  SCFM_H5(path);
  name_child(h5_call_, loc, path);
  if (!exists(loc, path)) return H5O_TYPE_UNKNOWN;
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, path.c_str(), &info, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5O_TYPE_UNKNOWN;
  }
  return info.type;
}

bool is_group(hid_t loc, const std::string& path) { return object_type(loc, path) == H5O_TYPE_GROUP; }
bool is_dataset(hid_t loc, const std::string& path) { return object_type(loc, path) == H5O_TYPE_DATASET; }

Handle open_group(hid_t loc, const std::string& path) {
  SCFM_H5(path);
  name_child(h5_call_, loc, path);
  if (!is_group(loc, path)) fail(loc, path, "missing; expected a group");
  hid_t g = H5Gopen2(loc, path.c_str(), H5P_DEFAULT);
  if (g < 0) fail(loc, path, "cannot open group" + hdf5_reason());
  return Handle(g);
}

Handle open_dataset(hid_t loc, const std::string& path) {
  SCFM_H5(path);
  name_child(h5_call_, loc, path);
  if (!is_dataset(loc, path)) fail(loc, path, "missing; expected a dataset");
  hid_t d = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
  if (d < 0) fail(loc, path, "cannot open dataset" + hdf5_reason());
  return Handle(d);
}

Handle create_group(hid_t loc, const std::string& name) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t g = H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (g < 0) fail(loc, name, "cannot create group" + hdf5_reason());
  return Handle(g);
}

std::vector<std::string> list(hid_t group) {
  SCFM_H5("(group members)");
  h5_call_.object(object_path(group) + " (members)");
  std::vector<std::string> names;
  H5_index_t index = H5_INDEX_NAME;
  Handle gcpl(H5Gget_create_plist(group));
  unsigned flags = 0;
  if (gcpl.valid() && H5Pget_link_creation_order(gcpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED))
    index = H5_INDEX_CRT_ORDER;
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  if (H5Literate(group, index, H5_ITER_INC, nullptr, collect, &names) < 0)
    fail(group, "", "cannot list group members" + hdf5_reason());
  return names;
}

bool has_attr(hid_t obj, const std::string& name) {
  SCFM_H5("(attribute)");
  h5_call_.object(object_path(obj) + "@" + name);
  htri_t e = H5Aexists(obj, name.c_str());
  if (e < 0) H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

Array read_attr(hid_t obj, const std::string& name) {
  SCFM_H5("(attribute)");
  h5_call_.object(object_path(obj) + "@" + name);
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  if (!attr.valid()) fail(obj, "", "missing attribute '" + name + "'");
  Handle type(H5Aget_type(attr));
  Handle space(H5Aget_space(attr));
  const std::string where = "@" + name;
  Array a;
  a.shape = space_shape(space);
  if (H5Sget_simple_extent_type(space) == H5S_NULL) {
    // h5py writes an empty attribute as a null dataspace
    a.dtype = DType::F64;
    a.shape = {0};
    return a;
  }
  a.dtype = dtype_from_type(type, obj, where);
  size_t n = static_cast<size_t>(a.size());
  if (a.dtype == DType::String) {
    a.strings = read_strings(type, n, [&](hid_t mem, void* buf) { return H5Aread(attr, mem, buf); }, obj, where);
  } else {
    a.bytes.resize(n * dtype_size(a.dtype));
    if (n > 0 && H5Aread(attr, native_type(a.dtype), a.bytes.data()) < 0)
      fail(obj, where, "cannot read attribute" + hdf5_reason());
  }
  return a;
}

std::string read_attr_string(hid_t obj, const std::string& name) {
  Array a = read_attr(obj, name);
  if (!a.is_string() || a.size() != 1)
    fail(obj, "@" + name, std::string("expected a string attribute, found ") + dtype_name(a.dtype));
  return a.strings[0];
}

std::string attr_string_or(hid_t obj, const std::string& name, const std::string& fallback) {
  return has_attr(obj, name) ? read_attr_string(obj, name) : fallback;
}

bool attr_is_reference(hid_t obj, const std::string& name) {
  SCFM_H5("(attribute)");
  h5_call_.object(object_path(obj) + "@" + name);
  if (!has_attr(obj, name)) return false;
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  Handle type(H5Aget_type(attr));
  return H5Tget_class(type) == H5T_REFERENCE;
}

Handle deref_attr(hid_t obj, const std::string& name) {
  SCFM_H5("(attribute)");
  h5_call_.object(object_path(obj) + "@" + name);
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
  hobj_ref_t ref;
  if (!attr.valid() || H5Aread(attr, H5T_STD_REF_OBJ, &ref) < 0)
    fail(obj, "@" + name, "cannot read object reference" + hdf5_reason());
  hid_t target = H5Rdereference2(obj, H5P_DEFAULT, H5R_OBJECT, &ref);
  if (target < 0) fail(obj, "@" + name, "object reference points nowhere" + hdf5_reason());
  return Handle(target);
}

static Handle make_space(const Array& value) {
  if (value.is_scalar()) return Handle(H5Screate(H5S_SCALAR));
  std::vector<hsize_t> dims(value.shape.begin(), value.shape.end());
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
}

static Handle file_type_for(DType t) {
  if (t == DType::Bool) return bool_type();
  if (t == DType::String) return vlen_string_type();
  // little-endian standard types, as numpy on x86 writes them
  switch (t) {
    case DType::I8: return Handle(H5Tcopy(H5T_STD_I8LE));
    case DType::I16: return Handle(H5Tcopy(H5T_STD_I16LE));
    case DType::I32: return Handle(H5Tcopy(H5T_STD_I32LE));
    case DType::I64: return Handle(H5Tcopy(H5T_STD_I64LE));
    case DType::U8: return Handle(H5Tcopy(H5T_STD_U8LE));
    case DType::U16: return Handle(H5Tcopy(H5T_STD_U16LE));
    case DType::U32: return Handle(H5Tcopy(H5T_STD_U32LE));
    case DType::U64: return Handle(H5Tcopy(H5T_STD_U64LE));
    case DType::F32: return Handle(H5Tcopy(H5T_IEEE_F32LE));
    case DType::F64: return Handle(H5Tcopy(H5T_IEEE_F64LE));
    default: break;
  }
  return Handle();
}

static Handle mem_type_for(DType t) {
  if (t == DType::Bool) return bool_type();
  if (t == DType::String) return vlen_string_type();
  return Handle(H5Tcopy(native_type(t)));
}

static std::vector<const char*> c_strings(const Array& value) {
  std::vector<const char*> ptrs(value.strings.size());
  for (size_t i = 0; i < ptrs.size(); ++i) ptrs[i] = value.strings[i].c_str();
  return ptrs;
}

void write_attr(hid_t obj, const std::string& name, const Array& value) {
  if (has_attr(obj, name)) H5Adelete(obj, name.c_str());
  Handle ftype = file_type_for(value.dtype);
  Handle mtype = mem_type_for(value.dtype);
  Handle space = make_space(value);
  Handle attr(H5Acreate2(obj, name.c_str(), ftype, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid()) fail(obj, "@" + name, "cannot create attribute" + hdf5_reason());
  herr_t rc = 0;
  if (value.is_string()) {
    auto ptrs = c_strings(value);
    if (!ptrs.empty()) rc = H5Awrite(attr, mtype, ptrs.data());
  } else if (!value.bytes.empty()) {
    rc = H5Awrite(attr, mtype, value.bytes.data());
  }
  if (rc < 0) fail(obj, "@" + name, "cannot write attribute" + hdf5_reason());
  attr.close();
}

void write_attr_string(hid_t obj, const std::string& name, const std::string& value) {
  write_attr(obj, name, Array::string_scalar(value));
}

DatasetInfo dataset_info(hid_t dset) {
  SCFM_H5("(dataset)");
  h5_call_.object(object_path(dset));
  Handle type(H5Dget_type(dset));
  Handle space(H5Dget_space(dset));
  return DatasetInfo{dtype_from_type(type, dset, ""), space_shape(space)};
}

void check_filters(hid_t dset) {
  SCFM_H5("(dataset)");
  h5_call_.object(object_path(dset));
  Handle dcpl(H5Dget_create_plist(dset));
  int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nelem = 0;
    char name[256] = {0};
    unsigned filter_config = 0;
    H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelem, nullptr, sizeof(name), name,
                                     &filter_config);
    if (id < 0) continue;
    if (H5Zfilter_avail(id) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      fail(dset, "", "compressed with HDF5 filter " + std::to_string(id) + " (" + filter_name(id) +
                         "), which this HDF5 library does not provide; re-save the file with gzip or no "
                         "compression (in Python: adata.write_h5ad(path, compression='gzip'))");
    }
  }
}

Array read_dataset(hid_t dset) {
  SCFM_H5("(dataset)");
  h5_call_.object(object_path(dset));
  check_filters(dset);
  Handle type(H5Dget_type(dset));
  Handle space(H5Dget_space(dset));
  Array a;
  a.shape = space_shape(space);
  a.dtype = dtype_from_type(type, dset, "");
  size_t n = static_cast<size_t>(a.size());
  if (a.dtype == DType::String) {
    a.strings = read_strings(type, n, [&](hid_t mem, void* buf) {
      return H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }, dset, "");
  } else {
    a.bytes.resize(n * dtype_size(a.dtype));
    if (n > 0 && H5Dread(dset, native_type(a.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()) < 0)
      fail(dset, "", "cannot read data: the file is truncated or corrupt" + hdf5_reason());
  }
  return a;
}

static Handle row_selection(hid_t dset, int64_t start, int64_t count, size_t* row_elems, Handle* mem_space) {
  Handle space(H5Dget_space(dset));
  auto shape = space_shape(space);
  if (shape.empty()) fail(dset, "", "expected an array, found a scalar");
  if (start < 0 || count < 0 || start + count > shape[0])
    fail(dset, "", "rows [" + std::to_string(start) + ", " + std::to_string(start + count) + ") are outside the " +
                       std::to_string(shape[0]) + " rows of the dataset");
  std::vector<hsize_t> off(shape.size(), 0), cnt(shape.begin(), shape.end());
  off[0] = static_cast<hsize_t>(start);
  cnt[0] = static_cast<hsize_t>(count);
  *row_elems = 1;
  for (size_t i = 1; i < shape.size(); ++i) *row_elems *= static_cast<size_t>(shape[i]);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  *mem_space = Handle(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr));
  return space;
}

Array read_rows(hid_t dset, int64_t start, int64_t count) {
  SCFM_H5("(dataset)");
  h5_call_.object(object_path(dset));
  check_filters(dset);
  Handle type(H5Dget_type(dset));
  Array a;
  a.dtype = dtype_from_type(type, dset, "");
  size_t row = 0;
  Handle mem;
  Handle space = row_selection(dset, start, count, &row, &mem);
  Handle full(H5Dget_space(dset));
  a.shape = space_shape(full);
  a.shape[0] = count;
  size_t n = static_cast<size_t>(count) * row;
  if (a.dtype == DType::String) {
    a.strings = read_strings(type, n, [&](hid_t mt, void* buf) {
      return H5Dread(dset, mt, mem, space, H5P_DEFAULT, buf);
    }, dset, "");
  } else {
    a.bytes.resize(n * dtype_size(a.dtype));
    if (n > 0 && H5Dread(dset, native_type(a.dtype), mem, space, H5P_DEFAULT, a.bytes.data()) < 0)
      fail(dset, "", "cannot read data: the file is truncated or corrupt" + hdf5_reason());
  }
  return a;
}

void read_rows_into(hid_t dset, int64_t start, int64_t count, DType mem_type, void* out) {
  SCFM_H5("(dataset)");
  h5_call_.object(object_path(dset));
  size_t row = 0;
  Handle mem;
  Handle space = row_selection(dset, start, count, &row, &mem);
  if (count == 0 || row == 0) return;
  if (H5Dread(dset, native_type(mem_type), mem, space, H5P_DEFAULT, out) < 0)
    fail(dset, "", "cannot read data: the file is truncated or corrupt" + hdf5_reason());
}

Handle write_dataset(hid_t loc, const std::string& name, const Array& value, const WriteOptions& opt) {
  Handle ftype = file_type_for(value.dtype);
  Handle mtype = mem_type_for(value.dtype);
  Handle space = make_space(value);
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (opt.gzip_level > 0 && !value.is_scalar() && value.size() >= opt.min_compress_size) {
    std::vector<hsize_t> chunk(value.shape.begin(), value.shape.end());
    // chunks of about 64k elements along the first axis
    hsize_t row = 1;
    for (size_t i = 1; i < chunk.size(); ++i) row *= chunk[i];
    chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(chunk[0], 65536 / std::max<hsize_t>(row, 1)));
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    H5Pset_deflate(dcpl, static_cast<unsigned>(opt.gzip_level));
  }
  Handle d(H5Dcreate2(loc, name.c_str(), ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.valid()) fail(loc, name, "cannot create dataset" + hdf5_reason());
  herr_t rc = 0;
  if (value.is_string()) {
    auto ptrs = c_strings(value);
    if (!ptrs.empty()) rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
  } else if (!value.bytes.empty()) {
    rc = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.bytes.data());
  }
  if (rc < 0) fail(loc, name, "cannot write dataset" + hdf5_reason());
  return d;
}

}  // namespace scfm::io::h5
