// scfm._core: the Python face of scfm's C++ core. The user-facing API (AnnData in, AnnData
// filled) is the pure-Python package around it (python/scfm/); this module takes numpy arrays and
// strings. scfm::Error and scfm::FormatError become scfm.Error / scfm.FormatError (ValueError
// subclasses) with the command line's messages.
#include <pybind11/pybind11.h>

#include <pybind11/stl.h>

#include "scfm/runtime/blas.h"
#include "scfm/runtime/threads.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace py = pybind11;

namespace scfm::python {
void bind_tasks(py::module_& m);
void bind_pp(py::module_& m);
}  // namespace scfm::python

PYBIND11_MODULE(_core, m) {
  m.doc() = "scfm's C++ core (use the scfm package, not this module)";
  // translators run newest first: FormatError's before Error's
  auto& error = py::register_exception<scfm::Error>(m, "Error", PyExc_ValueError);
  py::register_exception<scfm::FormatError>(m, "FormatError", error.ptr());
  m.def("set_threads", &scfm::runtime::set_threads, py::arg("n"),
        "Threads of LibTorch and OpenBLAS (0: every core this process may use); returns the number set");
  m.def("num_threads", &scfm::runtime::num_threads);
  m.def("set_progress", &scfm::util::set_progress_enabled, py::arg("enabled"),
        "Progress bars on stderr (drawn only when stderr is a terminal)");
  m.def(
      "blas_core",
      [] {
        const scfm::runtime::BlasInfo info = scfm::runtime::blas_info();
        return py::make_tuple(info.core, scfm::runtime::candidate_cores(scfm::runtime::cpu_features()));
      },
      "The OpenBLAS kernels loaded (\"\" when not OpenBLAS) and the cores that suit this CPU, fastest first");
  m.def("core_tier", &scfm::runtime::core_tier, py::arg("core"));
  m.attr("version") = SCFM_VERSION;
  scfm::python::bind_tasks(m);
  scfm::python::bind_pp(m);
}
