// A thin layer over the HDF5 C API: RAII handles, typed reads into io::Array, writes in the
// layout h5py produces (so anndata reads it), and errors that name the file and object.
//
// Every failure throws scfm::FormatError(file, "/hdf5/path", what) - HDF5's own error stack
// printing is switched off. Datasets compressed with a filter this HDF5 lacks (lzf = 32000,
// blosc, ...) are refused before reading with a message naming the filter and the dataset.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>
#include <vector>

#include "scfm/io/array.h"

namespace scfm::io::h5 {

// Owns one HDF5 identifier (file, group, dataset, attribute, type, space or property list).
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();  // closes, ignoring errors (reading, and unwinding after an error)
  // Closes now and throws scfm::Error naming the file and object if HDF5 reports a failure: for
  // what was written, the close writes out what HDF5 held back (a dataset's sieve buffer), and
  // the failed write of one small dataset surfaces only here.
  void close();
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }  // the caller closes it

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// The file the last open_file opened: what the supervisor names when HDF5 crashes or hangs
// (util/supervision.h). Every function here marks its HDF5 calls with util::Hdf5Call; code that
// calls the HDF5 C API directly does the same with this name. HDF5 runs on one thread at a time.
const std::string& last_opened_file();

// File name and object path of an identifier, for messages.
std::string file_name(hid_t obj);
std::string object_path(hid_t obj);
// Throws FormatError(file of obj, path of obj (+ "/" + child), what).
[[noreturn]] void fail(hid_t obj, const std::string& child, const std::string& what);

Handle open_file(const std::string& path, bool writable = false);
Handle create_file(const std::string& path);  // truncates

bool exists(hid_t loc, const std::string& path);  // every component must exist
bool is_group(hid_t loc, const std::string& path);
bool is_dataset(hid_t loc, const std::string& path);
Handle open_group(hid_t loc, const std::string& path);
Handle open_dataset(hid_t loc, const std::string& path);
Handle create_group(hid_t loc, const std::string& name);
// Names of a group's members, in creation order when the group tracks it, else by name.
std::vector<std::string> list(hid_t group);

// Attributes
bool has_attr(hid_t obj, const std::string& name);
Array read_attr(hid_t obj, const std::string& name);
std::string read_attr_string(hid_t obj, const std::string& name);  // a scalar string attribute
// A string attribute, or `fallback` when absent.
std::string attr_string_or(hid_t obj, const std::string& name, const std::string& fallback);
bool attr_is_reference(hid_t obj, const std::string& name);
// Dereferences an object-reference attribute (anndata 0.7 legacy categoricals).
Handle deref_attr(hid_t obj, const std::string& name);
void write_attr(hid_t obj, const std::string& name, const Array& value);
void write_attr_string(hid_t obj, const std::string& name, const std::string& value);

// Datasets
struct DatasetInfo {
  DType dtype;
  std::vector<int64_t> shape;
};
DatasetInfo dataset_info(hid_t dset);
// Throws if a filter the dataset needs is not available in this HDF5.
void check_filters(hid_t dset);
Array read_dataset(hid_t dset);
// Rows [start, start+count) along the first axis (all other axes whole).
Array read_rows(hid_t dset, int64_t start, int64_t count);
// The same into caller memory as float32/int64/int32 (conversion by HDF5); out must hold count*row elements.
void read_rows_into(hid_t dset, int64_t start, int64_t count, DType mem_type, void* out);

struct WriteOptions {
  int gzip_level = 0;            // 0 = no compression (anndata's default)
  int64_t min_compress_size = 4096;  // elements; smaller datasets are stored contiguous
};
Handle write_dataset(hid_t loc, const std::string& name, const Array& value, const WriteOptions& opt = {});

}  // namespace scfm::io::h5
