#include "scfm/eval/dataset.h"

#include <algorithm>
#include <cmath>

#include "scfm/eval/metrics.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/hdf5.h"
#include "scfm/util/error.h"

namespace scfm::eval {

Embedded read_embedded(const std::string& path, const std::string& key, const std::string& label_col,
                       bool labels_optional) {
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;  // matrices stay on disk; obs/var dataframes are read
  return read_embedded(io::read_h5ad(path, ro), key, label_col, labels_optional);
}

Embedded read_embedded(const io::AnnData& ad, const std::string& key, const std::string& label_col,
                       bool labels_optional) {
  const std::string& path = ad.path;
  Embedded e;
  e.path = path;
  e.obs_names = ad.obs_names();
  const io::Node* obsm = ad.root.child("obsm");
  const io::Node* node = obsm ? obsm->child(key) : nullptr;
  if (node == nullptr) {
    std::string have;
    if (obsm)
      for (const auto& k : obsm->keys()) have += (have.empty() ? "" : ", ") + k;
    throw FormatError(path, "obsm/" + key,
                      "no such embedding (obsm holds: " + (have.empty() ? std::string("nothing") : have) +
                          "); run `scfm embed --key " + key + "` first");
  }
  if (node->is_group) throw FormatError(path, "obsm/" + key, "expected a dense 2-D array, found a " + node->encoding());
  if (node->data.shape.size() != 2 || node->data.shape[0] != ad.n_obs())
    throw FormatError(path, "obsm/" + key, "expected a 2-D array with one row per cell (" + std::to_string(ad.n_obs()) + ")");
  if (!io::dtype_is_float(node->data.dtype) && !io::dtype_is_integer(node->data.dtype))
    throw FormatError(path, "obsm/" + key, std::string("expected numbers, found ") + io::dtype_name(node->data.dtype));
  e.n = node->data.shape[0];
  e.dim = node->data.shape[1];
  e.x.resize(static_cast<size_t>(e.n * e.dim));
  {
    io::h5::Handle f = io::h5::open_file(path);
    io::h5::Handle d = io::h5::open_dataset(f.get(), "obsm/" + key);
    if (e.n > 0) io::h5::read_rows_into(d.get(), 0, e.n, io::DType::F32, e.x.data());
  }
  for (float v : e.x)
    if (!std::isfinite(v)) throw FormatError(path, "obsm/" + key, "holds NaN or infinite values");
  if (!label_col.empty()) {
    const auto cols = io::dataframe_columns(ad.obs());
    if (std::find(cols.begin(), cols.end(), label_col) == cols.end()) {
      if (labels_optional) return e;
      std::string have;
      for (const auto& c : cols) have += (have.empty() ? "" : ", ") + c;
      throw FormatError(path, "obs/" + label_col, "no such column (obs has: " + have + ")");
    }
    e.labels = io::column_strings(ad.obs(), label_col);
  }
  return e;
}

Encoded required_codes(const std::string& path, const io::AnnData& ad, const std::string& col, const char* role) {
  const auto cols = io::dataframe_columns(ad.obs());
  if (std::find(cols.begin(), cols.end(), col) == cols.end()) {
    std::string have;
    for (const auto& c : cols) have += (have.empty() ? "" : ", ") + c;
    throw FormatError(path, "obs/" + col,
                      std::string("no such ") + role + " column (obs has: " + (have.empty() ? "nothing" : have) + ")");
  }
  return required_codes(path, col, io::column_strings(ad.obs(), col), role);
}

Encoded required_codes(const std::string& path, const std::string& col, const std::vector<std::string>& values,
                       const char* role) {
  Encoded e = encode_labels(values);
  const int64_t missing = std::count(e.codes.begin(), e.codes.end(), -1);
  if (missing > 0)
    throw FormatError(path, "obs/" + col,
                      std::to_string(missing) + " of " + std::to_string(e.codes.size()) + " cells have no " + role +
                          " (NaN or empty); scib's metrics need one for every cell: subset the file or fill them");
  return e;
}

}  // namespace scfm::eval
