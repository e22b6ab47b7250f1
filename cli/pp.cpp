// scfm pp IN --out OUT [filters] [--normalize-total [TARGET]] [--log1p]
//
// scanpy's preprocessing on a whole file: X holds the processed values, the input counts are
// kept in layers["counts"], the steps and their parameters are recorded in uns["scfm_pp"].
#include <iostream>

#include "commands.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_subset.h"
#include "scfm/io/tenx.h"
#include "scfm/pp/filter.h"
#include "scfm/pp/normalize.h"
#include "scfm/util/error.h"

namespace scfm::cli {

namespace {
struct PpArgs {
  std::string input, output, layer;
  pp::FilterCellsOptions cells;
  pp::FilterGenesOptions genes;
  std::string normalize_total;  // "" = off, "auto" = median, else the target
  bool log1p = false;
};
}  // namespace

void add_pp(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("pp", "Preprocess a file as scanpy does: filters, normalize_total, log1p");
  auto a = std::make_shared<PpArgs>();
  cmd->add_option("input", a->input, "An .h5ad, 10x folder or 10x .h5")->required();
  cmd->add_option("--out", a->output, "The .h5ad to write")->required();
  cmd->add_option("--layer", a->layer, "Take the counts from this layer instead of X");
  cmd->add_option("--filter-cells-min-genes", a->cells.min_genes, "scanpy.pp.filter_cells(min_genes=N)");
  cmd->add_option("--filter-cells-max-genes", a->cells.max_genes, "scanpy.pp.filter_cells(max_genes=N)");
  cmd->add_option("--filter-cells-min-counts", a->cells.min_counts, "scanpy.pp.filter_cells(min_counts=N)");
  cmd->add_option("--filter-cells-max-counts", a->cells.max_counts, "scanpy.pp.filter_cells(max_counts=N)");
  cmd->add_option("--filter-genes-min-cells", a->genes.min_cells, "scanpy.pp.filter_genes(min_cells=N)");
  cmd->add_option("--filter-genes-max-cells", a->genes.max_cells, "scanpy.pp.filter_genes(max_cells=N)");
  cmd->add_option("--filter-genes-min-counts", a->genes.min_counts, "scanpy.pp.filter_genes(min_counts=N)");
  cmd->add_option("--normalize-total", a->normalize_total,
                  "scanpy.pp.normalize_total; optional TARGET (default: median of the cell totals)")
      ->expected(0, 1)
      ->default_str("auto");
  cmd->add_flag("--log1p", a->log1p, "scanpy.pp.log1p (natural log of 1 + x)");
  cmd->callback([a] {
    io::AnnData data = io::read_any(a->input, io::TenxOptions{});
    io::CsrMatrix x = data.matrix_csr(a->layer);
    io::Node steps = io::make_dict();

    // scanpy filters cells first, then genes on the remaining cells
    std::vector<bool> cells = pp::filter_cells(x, a->cells);
    std::vector<bool> all_genes(static_cast<size_t>(x.n_cols), true);
    io::CsrMatrix kept = pp::subset(x, cells, all_genes);
    std::vector<bool> genes = pp::filter_genes(kept, a->genes);
    auto obs_idx = io::mask_to_indices(cells);
    auto var_idx = io::mask_to_indices(genes);
    io::AnnData out = io::subset(data, obs_idx, var_idx);
    io::CsrMatrix counts = pp::subset(kept, std::vector<bool>(static_cast<size_t>(kept.n_rows), true), genes);
    steps.set("n_cells_removed", io::make_scalar<int64_t>(x.n_rows - static_cast<int64_t>(obs_idx.size())));
    steps.set("n_genes_removed", io::make_scalar<int64_t>(x.n_cols - static_cast<int64_t>(var_idx.size())));

    io::CsrMatrix processed = counts;
    if (!a->normalize_total.empty()) {
      pp::NormalizeTotalOptions opt;
      if (a->normalize_total != "auto") {
        try {
          opt.target_sum = std::stod(a->normalize_total);
        } catch (const std::exception&) {
          throw Error("pp: --normalize-total expects a number, got '" + a->normalize_total + "'");
        }
      }
      double target = pp::normalize_total(processed, opt);
      steps.set("normalize_total_target_sum", io::make_scalar<double>(target));
    }
    if (a->log1p) {
      pp::log1p(processed);
      steps.set("log1p", io::make_scalar<bool>(true));
    }
    out.set_matrix("counts", io::make_csr(counts));
    out.set_matrix("", io::make_csr(processed));
    if (out.root.child("uns") == nullptr) out.root.set("uns", io::make_dict());
    out.root.child("uns")->set("scfm_pp", std::move(steps));
    io::write_h5ad(out, a->output);
    std::cout << "pp: " << a->input << " -> " << a->output << ": " << obs_idx.size() << " cells x " << var_idx.size()
              << " genes (" << (x.n_rows - static_cast<int64_t>(obs_idx.size())) << " cells and "
              << (x.n_cols - static_cast<int64_t>(var_idx.size())) << " genes filtered out)\n";
  });
}

}  // namespace scfm::cli
