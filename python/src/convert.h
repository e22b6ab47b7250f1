// Between Python objects and scfm's C++ types: numpy arrays as io::ArrayView / io::ArrayRows
// (read where they are, never copied whole), JSON as Python dicts, keyword options read one by one
// with unknown names refused (as the command line refuses an unknown flag).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "scfm/eval/dataset.h"
#include "scfm/io/array_rows.h"

namespace scfm::python {

namespace py = pybind11;

// numpy's dtype as scfm's; throws scfm::Error naming `what` for object, complex or string arrays.
io::DType dtype_of(const py::array& a, const std::string& what);

// A C-contiguous numpy array as a view (the caller keeps `a` alive).
io::ArrayView view_of(const py::array& a, const std::string& what);

// Cells as the Python layer hands them over (scfm/_matrix.py): a tuple
//   ("csr", n_rows, n_cols, indptr, indices, data) | ("dense", n_rows, n_cols, values)
//   | ("h5ad", path, layer)   (a backed AnnData: the file is streamed like the command line does)
// The arrays stay referenced by the returned holder.
struct Rows {
  std::vector<py::array> keep;
  std::unique_ptr<io::RowSource> source;
};
Rows rows_of(const py::tuple& spec, const std::string& name);

// An embedding (float32 n x d after numpy's conversion) and its labels ("" = none).
eval::Embedded embedded_of(const py::array& x, const std::string& name, const std::string& key,
                           const std::vector<std::string>& labels, bool labels_given);

py::object to_python(const nlohmann::json& j);

// A float32 n x d numpy array owning a copy of x.
py::array_t<float> to_numpy(const std::vector<float>& x, int64_t n, int64_t d);

// Reads keyword options: each get() removes its key; finish() refuses what is left.
class Options {
 public:
  Options(const py::dict& kwargs, std::string verb);
  template <class T>
  void get(const char* name, T& target);
  void finish() const;

 private:
  py::dict d_;
  std::string verb_;
};

template <class T>
void Options::get(const char* name, T& target) {
  if (!d_.contains(name)) return;
  py::object v = d_[name];
  PyDict_DelItemString(d_.ptr(), name);
  if (v.is_none()) return;
  try {
    target = v.cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(verb_ + ": option " + name + ": " + std::string(py::str(py::type::of(v))) +
                         " is not the type expected");
  }
}

}  // namespace scfm::python
