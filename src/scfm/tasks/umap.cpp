#include "scfm/tasks/umap.h"

#include <chrono>
#include <filesystem>

#include "scfm/eval/dataset.h"
#include "scfm/eval/obs_colour.h"
#include "scfm/eval/report.h"
#include "scfm/eval/scatter.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/hdf5.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace fs = std::filesystem;

namespace {

std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

}  // namespace

std::vector<float> read_xy(const io::AnnData& ad, const std::string& key) {
  const io::Node* obsm = ad.root.child("obsm");
  const io::Node* node = obsm ? obsm->child(key) : nullptr;
  if (node == nullptr || node->is_group)
    throw FormatError(ad.path, "obsm/" + key, "no such 2-D array; run `scfm umap` first");
  if (node->data.shape.size() != 2 || node->data.shape[0] != ad.n_obs() || node->data.shape[1] < 2)
    throw FormatError(ad.path, "obsm/" + key, "expected an array of n_obs rows and at least 2 columns");
  const int64_t n = node->data.shape[0], d = node->data.shape[1];
  std::vector<float> all(static_cast<size_t>(n * d));
  io::h5::Handle f = io::h5::open_file(ad.path);
  io::h5::Handle ds = io::h5::open_dataset(f.get(), "obsm/" + key);
  if (n > 0) io::h5::read_rows_into(ds.get(), 0, n, io::DType::F32, all.data());
  return first_two_columns(all, n, d, ad.path, key);
}

std::vector<float> first_two_columns(const std::vector<float>& x, int64_t n, int64_t d, const std::string& path,
                                     const std::string& key) {
  if (d < 2) throw FormatError(path, "obsm/" + key, "expected an array of n_obs rows and at least 2 columns");
  std::vector<float> xy(static_cast<size_t>(n * 2));
  for (int64_t i = 0; i < n; ++i) xy[2 * i] = x[i * d], xy[2 * i + 1] = x[i * d + 1];
  return xy;
}

void check_colors(const io::AnnData& ad, const std::vector<std::string>& colors) {
  eval::Scatter probe;
  for (const auto& c : colors) eval::colour_by_obs(ad, c, probe);
}

std::vector<std::pair<std::string, std::string>> umap_plots(const std::string& path, const std::string& key,
                                                            const std::vector<std::string>& colors,
                                                            const std::string& title_prefix) {
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData ad = io::read_h5ad(path, ro);
  if (colors.empty()) return {};
  return umap_plots(ad, read_xy(ad, key), key, colors, title_prefix);
}

std::vector<std::pair<std::string, std::string>> umap_plots(const io::AnnData& ad, const std::vector<float>& xy,
                                                            const std::string& key,
                                                            const std::vector<std::string>& colors,
                                                            const std::string& title_prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& col : colors) {
    eval::Scatter s;
    s.xy = xy;
    eval::colour_by_obs(ad, col, s);
    s.title = title_prefix + key + " coloured by " + col;
    out.emplace_back(safe_name(key) == "X_umap" ? "umap_" + safe_name(col) + ".svg"
                                                 : safe_name(key) + "_" + safe_name(col) + ".svg",
                     eval::scatter_svg(s));
  }
  return out;
}

nlohmann::json run_umap(const UmapTaskOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.input.empty() || o.output.empty()) throw Error("umap: --in and --out are required");
  if (fs::exists(o.output) && fs::equivalent(o.input, o.output))
    throw Error("umap: --out " + o.output + " is the input file; write to another path");
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData ad = io::read_h5ad(o.input, ro);
  check_colors(ad, o.colors);  // before the work, so a typo fails at once
  const eval::Embedded e = eval::read_embedded(ad, o.embedding, "");
  const eval::UmapResult r = eval::umap(eval::EmbeddingView{e.x.data(), e.n, e.dim}, o.umap);
  io::update_h5ad(o.input, o.output, [&](io::AnnData& a) {
    if (a.root.child("obsm") == nullptr) a.root.set("obsm", io::make_dict());
    a.root.child("obsm")->set(o.key_added, io::make_array(io::Array::from(r.x, {r.n, static_cast<int64_t>(r.dim)})));
    if (a.root.child("uns") == nullptr) a.root.set("uns", io::make_dict());
    io::Node params = io::make_dict();
    params.set("a", io::make_scalar(r.a));
    params.set("b", io::make_scalar(r.b));
    io::Node umap = io::make_dict();
    umap.set("params", std::move(params));
    // scanpy: uns['umap'] for obsm['X_umap'], uns[key] for obsm['X_key']
    const std::string uns_key = o.key_added.rfind("X_", 0) == 0 ? o.key_added.substr(2) : o.key_added;
    a.root.child("uns")->set(uns_key, std::move(umap));
  });
  nlohmann::json out;
  out["input"] = o.input;
  out["output"] = o.output;
  out["embedding"] = o.embedding;
  out["key_added"] = o.key_added;
  out["n_cells"] = r.n;
  out["dim_in"] = e.dim;
  out["n_neighbors"] = o.umap.n_neighbors;
  out["min_dist"] = o.umap.min_dist;
  out["spread"] = o.umap.spread;
  out["n_epochs"] = r.n_epochs;
  out["a"] = r.a;
  out["b"] = r.b;
  out["edges"] = r.n_edges;
  out["components"] = r.components;
  out["init"] = r.init;
  out["seed"] = o.umap.seed;
  out["seconds_knn"] = r.knn_seconds;
  out["seconds_init"] = r.init_seconds;
  out["seconds_layout"] = r.layout_seconds;
  nlohmann::json plots = nlohmann::json::array();
  if (!o.colors.empty()) {
    const std::string dir = o.plot_dir.empty() ? fs::path(o.output).parent_path().string() : o.plot_dir;
    // obs is the input's (update_h5ad changed obsm and uns only); the coordinates are in hand
    const std::vector<float> xy = first_two_columns(r.x, r.n, static_cast<int64_t>(r.dim), o.output, o.key_added);
    for (const auto& [name, svg] : umap_plots(ad, xy, o.key_added, o.colors)) {
      const std::string p = (fs::path(dir.empty() ? "." : dir) / name).string();
      eval::write_text(p, svg);
      plots.push_back(p);
    }
  }
  out["plots"] = plots;
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace scfm::tasks
