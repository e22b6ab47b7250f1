#include "convert.h"

#include <cmath>

#include "scfm/io/h5ad_stream.h"
#include "scfm/util/error.h"

namespace scfm::python {

io::DType dtype_of(const py::array& a, const std::string& what) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'b') return io::DType::Bool;
  if (kind == 'f' && size == 4) return io::DType::F32;
  if (kind == 'f' && size == 8) return io::DType::F64;
  if (kind == 'i') {
    if (size == 1) return io::DType::I8;
    if (size == 2) return io::DType::I16;
    if (size == 4) return io::DType::I32;
    if (size == 8) return io::DType::I64;
  }
  if (kind == 'u') {
    if (size == 1) return io::DType::U8;
    if (size == 2) return io::DType::U16;
    if (size == 4) return io::DType::U32;
    if (size == 8) return io::DType::U64;
  }
  throw Error(what + ": numpy dtype " + dt.attr("name").cast<std::string>() + " is not supported; expected integers or floats");
}

io::ArrayView view_of(const py::array& a, const std::string& what) {
  if (!(a.flags() & py::array::c_style))
    throw Error(what + ": expected a C-contiguous array (np.ascontiguousarray)");
  return {a.data(), dtype_of(a, what), static_cast<int64_t>(a.size())};
}

Rows rows_of(const py::tuple& spec, const std::string& name) {
  Rows r;
  const std::string kind = spec[0].cast<std::string>();
  if (kind == "h5ad") {
    io::H5adStreamOptions so;
    so.layer = spec[2].cast<std::string>();
    r.source = std::make_unique<io::H5adMatrixReader>(spec[1].cast<std::string>(), so);
    return r;
  }
  const auto n_rows = spec[1].cast<int64_t>(), n_cols = spec[2].cast<int64_t>();
  if (kind == "csr") {
    for (int i = 3; i < 6; ++i) r.keep.push_back(spec[i].cast<py::array>());
    r.source = std::make_unique<io::ArrayRows>(io::ArrayRows::csr(
        name, n_rows, n_cols, view_of(r.keep[0], name + ".indptr"), view_of(r.keep[1], name + ".indices"),
        view_of(r.keep[2], name + ".data")));
    return r;
  }
  if (kind == "dense") {
    r.keep.push_back(spec[3].cast<py::array>());
    r.source = std::make_unique<io::ArrayRows>(io::ArrayRows::dense(name, n_rows, n_cols, view_of(r.keep[0], name)));
    return r;
  }
  throw Error(name + ": unknown matrix kind '" + kind + "'");
}

eval::Embedded embedded_of(const py::array& x, const std::string& name, const std::string& key,
                           const std::vector<std::string>& labels, bool labels_given) {
  const auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(x);
  if (!f) throw Error(name + ": obsm/" + key + ": expected numbers");
  if (f.ndim() != 2) throw FormatError(name, "obsm/" + key, "expected a 2-D array with one row per cell");
  eval::Embedded e;
  e.path = name;
  e.n = f.shape(0);
  e.dim = f.shape(1);
  e.x.assign(f.data(), f.data() + f.size());
  for (float v : e.x)
    if (!std::isfinite(v)) throw FormatError(name, "obsm/" + key, "holds NaN or infinite values");
  if (labels_given) {
    if (static_cast<int64_t>(labels.size()) != e.n)
      throw FormatError(name, "obs", std::to_string(labels.size()) + " labels for " + std::to_string(e.n) + " cells");
    e.labels = labels;
  }
  return e;
}

py::object to_python(const nlohmann::json& j) {
  return py::module_::import("json").attr("loads")(j.dump());
}

py::array_t<float> to_numpy(const std::vector<float>& x, int64_t n, int64_t d) {
  py::array_t<float> a({n, d});
  if (!x.empty()) std::copy(x.begin(), x.end(), a.mutable_data());
  return a;
}

Options::Options(const py::dict& kwargs, std::string verb)
    : d_(py::reinterpret_steal<py::dict>(PyDict_Copy(kwargs.ptr()))), verb_(std::move(verb)) {}

void Options::finish() const {
  if (d_.empty()) return;
  std::string names;
  for (const auto& kv : d_) names += (names.empty() ? "" : ", ") + std::string(py::str(kv.first));
  throw py::type_error(verb_ + ": unknown option(s): " + names);
}

}  // namespace scfm::python
