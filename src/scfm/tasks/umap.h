// scfm umap: sc.tl.umap for an embedding in an .h5ad (eval/umap.h: the kNN graph, the fuzzy
// simplicial set, the spectral start, the layout), written as scanpy writes it: obsm['X_umap']
// (float32, n x 2) and uns['umap']['params'] = {a, b}, in a copy of the input (atomic). With
// --color, one scatter plot per obs column (umap_<col>.svg) in --plot-dir.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "scfm/eval/umap.h"
#include "scfm/io/h5ad.h"

namespace scfm::tasks {

struct UmapTaskOptions {
  std::string input, output;          // --in, --out (.h5ad)
  std::string embedding = "X_scfm";   // obsm key of the input
  std::string key_added = "X_umap";
  std::vector<std::string> colors;    // obs columns to plot
  std::string plot_dir;               // where the SVGs go ("" = beside --out)
  eval::UmapOptions umap;
  bool progress = true;
};

// Returns a summary (cells, epochs, a, b, seconds, plots written). Throws scfm::Error /
// FormatError naming the file and element for a missing embedding or colour column; nothing is
// written then.
nlohmann::json run_umap(const UmapTaskOptions& o);

// The scatter plots of obsm[key] of `path` coloured by each of `colors`, as (file name, SVG):
// what scfm umap and scfm report draw. An empty `colors` list plots none.
std::vector<std::pair<std::string, std::string>> umap_plots(const std::string& path, const std::string& key,
                                                            const std::vector<std::string>& colors,
                                                            const std::string& title_prefix = "");
// The same from an AnnData already read (lazily) and the coordinates in hand (n x 2, row-major).
std::vector<std::pair<std::string, std::string>> umap_plots(const io::AnnData& ad, const std::vector<float>& xy,
                                                            const std::string& key,
                                                            const std::vector<std::string>& colors,
                                                            const std::string& title_prefix = "");
// The first two columns of obsm[key] of an AnnData read with lazy matrices (FormatError naming the
// file when it is missing or has fewer than 2 columns).
std::vector<float> read_xy(const io::AnnData& ad, const std::string& key);
// The first two columns of a layout of n x d floats, as read_xy gives them once the layout is
// written to obsm[key] of `path` (the same FormatError when d < 2).
std::vector<float> first_two_columns(const std::vector<float>& x, int64_t n, int64_t d, const std::string& path,
                                     const std::string& key);
// Each of `colors` as eval::colour_by_obs would draw it (FormatError naming a missing column):
// the check scfm umap and scfm report run before computing a layout.
void check_colors(const io::AnnData& ad, const std::vector<std::string>& colors);

}  // namespace scfm::tasks
