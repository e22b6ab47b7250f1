// scfm.pp: scanpy's preprocessing steps with scfm's definitions (pp/*.h), on the arrays of an
// AnnData. normalize_total and log1p work in place on float32 data (a CSR matrix's data array or a
// dense C-contiguous array); the others read the matrix block by block into scfm's float32 CSR.
#include <pybind11/stl.h>

#include <optional>

#include "convert.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/filter.h"
#include "scfm/pp/hvg.h"
#include "scfm/pp/normalize.h"
#include "scfm/util/error.h"

namespace scfm::python {
namespace {

// The whole matrix as scfm's CSR (one float32 copy: what the filters and HVG need).
io::CsrMatrix read_all(const py::tuple& spec, const std::string& name) {
  Rows rows = rows_of(spec, name);
  return rows.source->read_rows(0, rows.source->n_rows());
}

py::array_t<bool> to_bool(const std::vector<bool>& v) {
  py::array_t<bool> a(static_cast<py::ssize_t>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) a.mutable_data()[i] = v[i];
  return a;
}

template <class T>
py::array_t<T> to_array(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

float* writable_f32(py::array& a, const std::string& what) {
  if (!(a.flags() & py::array::c_style) || !a.writeable() || dtype_of(a, what) != io::DType::F32)
    throw Error(what + ": expected a writable, C-contiguous float32 array");
  return static_cast<float*>(a.mutable_data());
}

double normalize_total_csr(py::array indptr, py::array data, std::optional<double> target_sum) {
  pp::NormalizeTotalOptions o;
  o.target_sum = target_sum;
  float* d = writable_f32(data, "normalize_total: data");
  const io::ArrayView p = view_of(indptr, "normalize_total: indptr");
  const int64_t n_rows = p.size - 1;
  if (n_rows < 0) throw Error("normalize_total: indptr is empty");
  const auto nnz = static_cast<int64_t>(data.size());
  py::gil_scoped_release release;
  // the rows are written in place: indptr must stay within data, as io::ArrayRows checks it
  auto run = [&](const auto* ip) {
    if (ip[0] < 0 || ip[n_rows] > nnz) throw Error("normalize_total: indptr points outside the data");
    for (int64_t r = 0; r < n_rows; ++r)
      if (ip[r + 1] < ip[r]) throw Error("normalize_total: indptr is not monotone at row " + std::to_string(r));
    return pp::normalize_total(n_rows, ip, d, o);
  };
  if (p.dtype == io::DType::I32) return run(static_cast<const int32_t*>(p.data));
  if (p.dtype == io::DType::I64) return run(static_cast<const int64_t*>(p.data));
  throw Error("normalize_total: indptr must be int32 or int64");
}

double normalize_total_dense(py::array values, std::optional<double> target_sum) {
  pp::NormalizeTotalOptions o;
  o.target_sum = target_sum;
  if (values.ndim() != 2) throw Error("normalize_total: expected a 2-D matrix");
  float* d = writable_f32(values, "normalize_total");
  const int64_t n = values.shape(0), g = values.shape(1);
  py::gil_scoped_release release;
  std::vector<int64_t> indptr(static_cast<size_t>(n + 1));
  for (int64_t r = 0; r <= n; ++r) indptr[r] = r * g;  // a dense row is a CSR row with its zeros stored
  return pp::normalize_total(n, indptr.data(), d, o);
}

void log1p_inplace(py::array values) {
  float* d = writable_f32(values, "log1p");
  const auto n = static_cast<size_t>(values.size());
  py::gil_scoped_release release;
  pp::log1p(d, n);
}

// scanpy's filter_cells / filter_genes: the mask of what passes; bounds < 0 are not applied.
template <class O>
py::array_t<bool> filter(const py::tuple& spec, const py::kwargs& kwargs, const char* verb, const char* min_name,
                         int64_t O::*min_n, const char* max_name, int64_t O::*max_n,
                         std::vector<bool> (*fn)(const io::CsrMatrix&, const O&)) {
  O o;
  Options opt(kwargs, verb);
  opt.get("min_counts", o.min_counts);
  opt.get("max_counts", o.max_counts);
  opt.get(min_name, o.*min_n);
  opt.get(max_name, o.*max_n);
  opt.finish();
  std::vector<bool> keep;
  {
    py::gil_scoped_release release;
    keep = fn(read_all(spec, "adata.X"), o);
  }
  return to_bool(keep);
}

py::dict highly_variable_genes(const py::tuple& spec, const py::kwargs& kwargs) {
  pp::HighlyVariableGenesOptions o;
  Options opt(kwargs, "highly_variable_genes");
  std::string flavor = "seurat";
  opt.get("flavor", flavor);
  opt.get("n_top_genes", o.n_top_genes);
  opt.get("min_mean", o.min_mean);
  opt.get("max_mean", o.max_mean);
  opt.get("min_disp", o.min_disp);
  opt.get("max_disp", o.max_disp);
  opt.get("n_bins", o.n_bins);
  opt.get("span", o.span);
  opt.get("batch", o.batch);
  opt.finish();
  o.flavor = pp::hvg_flavor_from_string(flavor);
  pp::HighlyVariableGenes h;
  {
    py::gil_scoped_release release;
    const io::CsrMatrix m = read_all(spec, "adata.X");
    if (!o.batch.empty() && static_cast<int64_t>(o.batch.size()) != m.n_rows)
      throw Error("highly_variable_genes: batch_key gives " + std::to_string(o.batch.size()) + " values for " +
                  std::to_string(m.n_rows) + " cells");
    h = pp::highly_variable_genes(m, o);
  }
  // scanpy's var column names (cli/pp.cpp writes the same)
  py::dict d;
  d["highly_variable"] = to_bool(h.highly_variable);
  d["means"] = to_array(h.means);
  if (!h.dispersions.empty()) d["dispersions"] = to_array(h.dispersions);
  if (!h.dispersions_norm.empty()) {
    std::vector<float> f(h.dispersions_norm.begin(), h.dispersions_norm.end());
    d["dispersions_norm"] = to_array(f);
  }
  if (!h.variances.empty()) d["variances"] = to_array(h.variances);
  if (!h.variances_norm.empty()) d["variances_norm"] = to_array(h.variances_norm);
  if (!h.highly_variable_rank.empty()) {
    std::vector<float> f(h.highly_variable_rank.begin(), h.highly_variable_rank.end());
    d["highly_variable_rank"] = to_array(f);
  }
  if (!h.highly_variable_nbatches.empty()) d["highly_variable_nbatches"] = to_array(h.highly_variable_nbatches);
  if (!h.highly_variable_intersection.empty())
    d["highly_variable_intersection"] = to_bool(h.highly_variable_intersection);
  return d;
}

py::tuple binning(const py::tuple& spec, int n_bins, const std::string& mode, uint64_t seed) {
  pp::BinningOptions o;
  o.n_bins = n_bins;
  if (mode == "deterministic") o.mode = pp::BinningMode::Deterministic;
  else if (mode == "keyed") o.mode = pp::BinningMode::Keyed;
  else throw Error("binning: mode '" + mode + "': expected keyed or deterministic");
  o.seed = seed;
  io::CsrMatrix b;
  pp::BinnedMatrix bins;
  {
    py::gil_scoped_release release;
    const io::CsrMatrix m = read_all(spec, "adata.X");
    bins = pp::binning(m, o);
    b = pp::binned_csr(m, bins);
  }
  py::array_t<double> edges({b.n_rows, static_cast<int64_t>(bins.n_bins)});
  std::copy(bins.bin_edges.begin(), bins.bin_edges.end(), edges.mutable_data());
  return py::make_tuple(to_array(b.indptr), to_array(b.indices), to_array(b.data), b.n_rows, b.n_cols, edges);
}

}  // namespace

void bind_pp(py::module_& m) {
  m.def("normalize_total_csr", &normalize_total_csr, py::arg("indptr"), py::arg("data"), py::arg("target_sum"));
  m.def("normalize_total_dense", &normalize_total_dense, py::arg("values"), py::arg("target_sum"));
  m.def("log1p_inplace", &log1p_inplace, py::arg("values"));
  m.def(
      "filter_cells",
      [](const py::tuple& spec, const py::kwargs& kwargs) {
        using O = pp::FilterCellsOptions;
        return filter<O>(spec, kwargs, "filter_cells", "min_genes", &O::min_genes, "max_genes", &O::max_genes,
                         &pp::filter_cells);
      },
      py::arg("matrix"));
  m.def(
      "filter_genes",
      [](const py::tuple& spec, const py::kwargs& kwargs) {
        using O = pp::FilterGenesOptions;
        return filter<O>(spec, kwargs, "filter_genes", "min_cells", &O::min_cells, "max_cells", &O::max_cells,
                         &pp::filter_genes);
      },
      py::arg("matrix"));
  m.def("highly_variable_genes", &highly_variable_genes, py::arg("matrix"));
  m.def("binning", &binning, py::arg("matrix"), py::arg("n_bins"), py::arg("mode"), py::arg("seed"));
}

}  // namespace scfm::python
