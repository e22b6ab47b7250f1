#include "scfm/tasks/perturb_classify.h"

#include <algorithm>
#include <filesystem>

#include "scfm/eval/gears.h"
#include "scfm/io/h5ad.h"
#include "scfm/util/error.h"

namespace fs = std::filesystem;

namespace scfm::tasks {

nlohmann::json perturb_classify(const PerturbClassifyOptions& o) {
  if (o.classify.out_dir.empty()) throw Error("perturb classify: --out (a folder) is required");
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData meta = io::read_h5ad(o.classify.input, ro);
  const auto cols = io::dataframe_columns(meta.obs());
  if (std::find(cols.begin(), cols.end(), o.condition_col) == cols.end())
    throw FormatError(o.classify.input, "obs/" + o.condition_col, "missing; expected GEARS's condition names");
  std::vector<std::string> label = io::column_strings(meta.obs(), o.condition_col);
  int64_t kept = 0;
  for (auto& l : label) {
    const eval::Condition c = eval::parse_condition(l, o.classify.input, "obs/" + o.condition_col);
    if (o.singles_only && c.combo()) l.clear();
    kept += l.empty() ? 0 : 1;
  }
  if (kept == 0) throw FormatError(o.classify.input, "obs/" + o.condition_col, "no cells left to classify");
  // a labelled copy beside the output folder for the classify protocol (matrices are copied
  // inside HDF5), removed after
  const std::string copy = fs::path(o.classify.out_dir).lexically_normal().string() + ".labels.tmp.h5ad";
  io::update_h5ad(o.classify.input, copy, [&](io::AnnData& ad) {
    io::dataframe_set_column(ad.obs(), "scfm_perturbation", io::make_string_array(label));
  });
  ClassifyOptions co = o.classify;
  co.input = copy;
  co.label_col = "scfm_perturbation";
  nlohmann::json r;
  try {
    r = classify(co);
  } catch (...) {
    fs::remove(copy);
    throw;
  }
  fs::remove(copy);
  r["input"] = o.classify.input;
  r["condition_col"] = o.condition_col;
  r["singles_only"] = o.singles_only;
  return r;
}

}  // namespace scfm::tasks
