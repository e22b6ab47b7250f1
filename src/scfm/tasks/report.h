// scfm report: one self-contained HTML page for runs and task folders (eval/html.h).
//   a run folder (pretrain, finetune): its settings (args.json), loss and validation curves
//   (metrics.jsonl: every kind of line, its loss-like fields against the step), the learning rate;
//   a task folder (classify, map, integrate, perturb, grn, ...): results.md as HTML tables, its
//   SVG figures (confusion matrices, heat maps, networks) inline;
//   each --h5ad: UMAP scatter plots coloured by --color (default: the label and batch columns
//   found), from obsm['X_umap'] when the file has it, else computed from --embedding on the fly.
// Written atomically; a folder with nothing the report knows is an error naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "scfm/eval/umap.h"

namespace scfm::tasks {

struct ReportOptions {
  std::vector<std::string> dirs;    // runs and task folders, in page order
  std::vector<std::string> h5ads;   // files with embeddings to draw
  std::string embedding = "X_scfm"; // used when a file has no obsm['X_umap']
  std::vector<std::string> colors;  // obs columns ("" = cell_type/celltype/label and batch/str_batch found)
  std::string out;                  // report.html
  std::string title = "scfm report";
  eval::UmapOptions umap;
  int max_figures_per_dir = 16;
};

// Returns a summary (sections, figures, points drawn, bytes written).
nlohmann::json write_report(const ReportOptions& o);

}  // namespace scfm::tasks
