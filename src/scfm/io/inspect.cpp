#include "scfm/io/inspect.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/tenx.h"

namespace scfm::io {
namespace {

using nlohmann::json;

std::vector<int64_t> element_shape(const Node& m) {
  if (m.is_group) {
    if (const Array* s = m.attr("shape")) return s->to<int64_t>();
    return {};
  }
  return m.data.shape;
}

std::string element_dtype(const Node& m) {
  if (m.is_group) {
    if (const Node* d = m.child("data")) return dtype_name(d->data.dtype);
    return "";
  }
  return m.data.is_string() ? "str" : dtype_name(m.data.dtype);
}

json describe_columns(const Node& df) {
  json out = json::array();
  for (const std::string& name : dataframe_columns(df)) {
    Column c = describe_column(df, name);
    json col = {{"name", name}, {"encoding", c.encoding}, {"dtype", c.encoding == "categorical" ? "category" : dtype_name(c.dtype)},
                {"n_categories", c.n_categories}};
    if (c.encoding == "categorical" || c.dtype == DType::String || c.dtype == DType::Bool) {
      std::map<std::string, int64_t> counts;
      for (auto& v : column_strings(df, name)) ++counts[v];
      std::vector<std::pair<std::string, int64_t>> top(counts.begin(), counts.end());
      std::stable_sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.second > b.second; });
      if (top.size() > 5) top.resize(5);
      json t = json::array();
      for (auto& [k, n] : top) t.push_back({{"value", k}, {"count", n}});
      col["top"] = t;
      if (c.encoding != "categorical") col["n_unique"] = counts.size();
    }
    out.push_back(col);
  }
  return out;
}

json describe_slots(const Node* group) {
  json out = json::array();
  if (group == nullptr) return out;
  for (auto& [k, m] : group->children)
    out.push_back({{"name", k}, {"shape", element_shape(m)}, {"encoding", m.encoding()}, {"dtype", element_dtype(m)}});
  return out;
}

// Judges what the values are from a sample of cells.
std::string value_kind(const CsrMatrix& m) {
  if (m.nnz() == 0) return "empty";
  bool integer = true, negative = false;
  float max = 0;
  for (float v : m.data) {
    if (v != std::floor(v)) integer = false;
    if (v < 0) negative = true;
    max = std::max(max, v);
  }
  if (integer && !negative) return "raw counts";
  auto sums = m.row_sums();
  double mean = 0, var = 0;
  for (double s : sums) mean += s;
  mean /= static_cast<double>(sums.size());
  for (double s : sums) var += (s - mean) * (s - mean);
  double cv = std::sqrt(var / static_cast<double>(sums.size())) / std::max(mean, 1e-12);
  if (!negative && cv < 0.01) return "normalized (total " + std::to_string(static_cast<int64_t>(std::round(mean))) + " per cell)";
  // log1p of normalised counts: expm1 of the values sums to a constant
  if (!negative && max < 20) {
    std::vector<double> s(sums.size(), 0.0);
    for (int64_t r = 0; r < m.n_rows; ++r)
      for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) s[r] += std::expm1(static_cast<double>(m.data[k]));
    double ms = 0, vs = 0;
    for (double x : s) ms += x;
    ms /= static_cast<double>(s.size());
    for (double x : s) vs += (x - ms) * (x - ms);
    double cv2 = std::sqrt(vs / static_cast<double>(s.size())) / std::max(ms, 1e-12);
    if (cv2 < 0.01) return "log1p (of totals " + std::to_string(static_cast<int64_t>(std::round(ms))) + " per cell)";
    return "log1p-like (non-integer, max " + std::to_string(max).substr(0, 6) + ")";
  }
  return "continuous";
}

}  // namespace

json describe_file(const std::string& path, int64_t sample_rows) {
  json d;
  d["path"] = path;
  AnnData a;
  bool h5ad = false;
  if (std::filesystem::is_regular_file(path) && !is_10x_h5(path)) {
    H5adReadOptions ro;
    ro.lazy_matrix_elements = 0;
    a = read_h5ad(path, ro);
    h5ad = true;
    d["format"] = "h5ad";
  } else {
    a = read_any(path, TenxOptions{});
    d["format"] = std::filesystem::is_directory(path) ? "10x_mtx" : "10x_h5";
  }
  d["n_obs"] = a.n_obs();
  d["n_vars"] = a.n_vars();
  if (a.has_x()) {
    const Node& x = a.matrix();
    const std::string enc = x.encoding();
    d["x_encoding"] = enc;
    d["x_dtype"] = element_dtype(x);
    int64_t nnz = 0;
    if (x.is_group)
      nnz = element_shape(*x.child("data")).empty() ? 0 : element_shape(*x.child("data"))[0];
    else
      nnz = a.n_obs() * a.n_vars();
    CsrMatrix sample;
    int64_t rows = std::min<int64_t>(sample_rows, a.n_obs());
    if (h5ad) {
      H5adMatrixReader reader(path);
      sample = reader.read_rows(0, rows);
      if (enc == "array") {
        // dense: nnz counts stored non-zeros, estimated from the sample when not everything was read
        nnz = rows == a.n_obs() ? sample.nnz() : nnz;
      }
    } else {
      CsrMatrix all = a.matrix_csr();
      nnz = all.nnz();
      sample = all;
    }
    d["nnz"] = nnz;
    double cells = static_cast<double>(a.n_obs()) * static_cast<double>(a.n_vars());
    d["density"] = cells > 0 ? static_cast<double>(nnz) / cells : 0.0;
    d["value_kind"] = value_kind(sample);
  } else {
    d["x_encoding"] = nullptr;
    d["x_dtype"] = nullptr;
    d["nnz"] = 0;
    d["density"] = 0.0;
    d["value_kind"] = "no X";
  }
  d["obs_columns"] = describe_columns(a.obs());
  d["var_columns"] = describe_columns(a.var());
  d["layers"] = describe_slots(a.root.child("layers"));
  d["obsm"] = describe_slots(a.root.child("obsm"));
  d["varm"] = describe_slots(a.root.child("varm"));
  d["obsp"] = describe_slots(a.root.child("obsp"));
  json uns = json::array();
  if (const Node* u = a.root.child("uns"))
    for (auto& k : u->keys()) uns.push_back(k);
  d["uns"] = uns;
  d["has_raw"] = a.root.child("raw") != nullptr;
  return d;
}

std::string format_description(const json& d) {
  std::ostringstream o;
  o << d["path"].get<std::string>() << " (" << d["format"].get<std::string>() << ")\n";
  o << "  " << d["n_obs"] << " cells x " << d["n_vars"] << " genes\n";
  if (!d["x_encoding"].is_null()) {
    char density[32];
    std::snprintf(density, sizeof density, "%.2f%%", 100.0 * d["density"].get<double>());
    o << "  X: " << d["x_encoding"].get<std::string>() << ", " << d["x_dtype"].get<std::string>() << ", nnz "
      << d["nnz"] << " (" << density << "), values look like " << d["value_kind"].get<std::string>() << "\n";
  } else {
    o << "  X: none (the matrices are in layers)\n";
  }
  auto columns = [&](const char* title, const json& cols) {
    o << "  " << title << ":" << (cols.empty() ? " (none)" : "") << "\n";
    for (auto& c : cols) {
      o << "    " << c["name"].get<std::string>() << ": " << c["dtype"].get<std::string>();
      if (c["n_categories"].get<int64_t>() >= 0) o << " (" << c["n_categories"] << " categories)";
      if (c.contains("n_unique") && c["n_unique"].get<int64_t>() > 20) {
        o << " (" << c["n_unique"] << " distinct values), e.g.";
        for (auto& t : c["top"]) o << " " << t["value"].get<std::string>();
      } else if (c.contains("top")) {
        o << "  top:";
        for (auto& t : c["top"]) o << " " << t["value"].get<std::string>() << " (" << t["count"] << ")";
      }
      o << "\n";
    }
  };
  columns("obs", d["obs_columns"]);
  columns("var", d["var_columns"]);
  auto slots = [&](const char* title, const json& items) {
    if (items.empty()) return;
    o << "  " << title << ":";
    for (auto& s : items) {
      o << " " << s["name"].get<std::string>() << " [";
      for (size_t i = 0; i < s["shape"].size(); ++i) o << (i ? "x" : "") << s["shape"][i];
      o << " " << s["encoding"].get<std::string>() << "]";
    }
    o << "\n";
  };
  slots("layers", d["layers"]);
  slots("obsm", d["obsm"]);
  slots("varm", d["varm"]);
  slots("obsp", d["obsp"]);
  if (!d["uns"].empty()) {
    o << "  uns:";
    for (auto& k : d["uns"]) o << " " << k.get<std::string>();
    o << "\n";
  }
  if (d["has_raw"].get<bool>()) o << "  raw: yes\n";
  return o.str();
}

}  // namespace scfm::io
