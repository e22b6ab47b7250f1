// scfm pp IN --out OUT [filters] [--normalize-total [TARGET]] [--log1p]
//          [--hvg N --hvg-flavor seurat|cell_ranger|seurat_v3 [--hvg-batch-key K] [--subset-hvg]]
//          [--bin N_BINS [--seed S | --bin-deterministic]]
//
// scanpy's preprocessing on a whole file: X holds the processed values, the input counts are
// kept in layers["counts"], the steps and their parameters are recorded in uns["scfm_pp"].
// HVG (scanpy.pp.highly_variable_genes) runs after normalize_total/log1p on X, except seurat_v3,
// which always uses the counts; its results go to var (highly_variable, means, dispersions,
// dispersions_norm or variances, variances_norm, highly_variable_rank, and with a batch key
// highly_variable_nbatches / highly_variable_intersection). --subset-hvg keeps only those genes.
// Binning (scGPT's value binning, pp/binning.h) runs last, on X, into layers["X_binned"] (CSR with
// X's pattern, bins as float32): keyed mode with --seed by default (the key's cell index is the
// row in the output), --bin-deterministic for u = 1/2.
#include <algorithm>
#include <iostream>
#include <map>

#include "commands.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_subset.h"
#include "scfm/io/tenx.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/filter.h"
#include "scfm/pp/hvg.h"
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
  int64_t hvg = 0;  // 0 = off
  std::string hvg_flavor = "seurat";
  std::string hvg_batch_key;
  bool subset_hvg = false;
  int bin = 0;  // 0 = off
  uint64_t seed = 0;
  bool bin_deterministic = false;
};

io::Node f64_column(const std::vector<double>& v) { return io::make_array(io::Array::from(v)); }
io::Node f32_column(const std::vector<double>& v) {
  return io::make_array(io::Array::from(std::vector<float>(v.begin(), v.end())));
}
io::Node bool_column(const std::vector<bool>& v) { return io::make_array(io::Array::from(v)); }

// Writes the filled HVG results into var with scanpy's column names and dtypes.
void set_hvg_columns(io::Node& var, const pp::HighlyVariableGenes& h) {
  io::dataframe_set_column(var, "highly_variable", bool_column(h.highly_variable));
  io::dataframe_set_column(var, "means", f64_column(h.means));
  if (!h.dispersions.empty()) io::dataframe_set_column(var, "dispersions", f64_column(h.dispersions));
  if (!h.dispersions_norm.empty()) io::dataframe_set_column(var, "dispersions_norm", f32_column(h.dispersions_norm));
  if (!h.variances.empty()) io::dataframe_set_column(var, "variances", f64_column(h.variances));
  if (!h.variances_norm.empty()) io::dataframe_set_column(var, "variances_norm", f64_column(h.variances_norm));
  if (!h.highly_variable_rank.empty())
    io::dataframe_set_column(var, "highly_variable_rank", f32_column(h.highly_variable_rank));
  if (!h.highly_variable_nbatches.empty())
    io::dataframe_set_column(var, "highly_variable_nbatches", io::make_array(io::Array::from(h.highly_variable_nbatches)));
  if (!h.highly_variable_intersection.empty())
    io::dataframe_set_column(var, "highly_variable_intersection", bool_column(h.highly_variable_intersection));
}
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
  auto* hvg = cmd->add_option("--hvg", a->hvg, "scanpy.pp.highly_variable_genes(n_top_genes=N); results in var")
                  ->check(CLI::PositiveNumber);
  cmd->add_option("--hvg-flavor", a->hvg_flavor, "seurat (log1p data), cell_ranger (normalised) or seurat_v3 (counts)")
      ->check(CLI::IsMember({"seurat", "cell_ranger", "seurat_v3"}))
      ->capture_default_str()
      ->needs(hvg);
  cmd->add_option("--hvg-batch-key", a->hvg_batch_key, "obs column of batches (scanpy batch_key=)")->needs(hvg);
  cmd->add_flag("--subset-hvg", a->subset_hvg, "keep only the highly variable genes (scanpy subset=True)")->needs(hvg);
  auto* bin = cmd->add_option("--bin", a->bin, "scGPT value binning into layers['X_binned'] with N_BINS bins")
                  ->check(CLI::Range(3, 1 << 20));
  auto* seed = cmd->add_option("--seed", a->seed, "binning key (keyed mode: bins depend on seed, cell, gene)")
                   ->capture_default_str();
  auto* det = cmd->add_flag("--bin-deterministic", a->bin_deterministic, "binning without randomness (u = 1/2)");
  seed->excludes(det);
  seed->needs(bin);
  det->needs(bin);
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
    if (a->hvg > 0) {
      pp::HighlyVariableGenesOptions opt;
      opt.flavor = pp::hvg_flavor_from_string(a->hvg_flavor);
      opt.n_top_genes = a->hvg;
      if (!a->hvg_batch_key.empty()) {
        const io::Node& obs = out.obs();
        auto columns = io::dataframe_columns(obs);
        if (std::find(columns.begin(), columns.end(), a->hvg_batch_key) == columns.end())
          throw Error("pp: " + a->input + ": obs has no column '" + a->hvg_batch_key + "' (--hvg-batch-key)");
        std::map<std::string, int32_t> codes;
        for (const auto& label : io::column_strings(obs, a->hvg_batch_key))
          opt.batch.push_back(codes.emplace(label, static_cast<int32_t>(codes.size())).first->second);
      }
      // scanpy: seurat_v3 always reads counts; the other flavors read X as processed so far
      pp::HighlyVariableGenes h =
          pp::highly_variable_genes(opt.flavor == pp::HvgFlavor::SeuratV3 ? counts : processed, opt);
      set_hvg_columns(out.var(), h);
      int64_t n_hv = std::count(h.highly_variable.begin(), h.highly_variable.end(), true);
      io::Node rec = io::make_dict();
      rec.set("flavor", io::make_string(a->hvg_flavor));
      rec.set("n_top_genes", io::make_scalar<int64_t>(a->hvg));
      rec.set("n_highly_variable", io::make_scalar<int64_t>(n_hv));
      if (!a->hvg_batch_key.empty()) rec.set("batch_key", io::make_string(a->hvg_batch_key));
      rec.set("subset", io::make_scalar<bool>(a->subset_hvg));
      steps.set("hvg", std::move(rec));
      if (a->subset_hvg) {
        std::vector<int64_t> all_obs(static_cast<size_t>(out.n_obs()));
        for (size_t i = 0; i < all_obs.size(); ++i) all_obs[i] = static_cast<int64_t>(i);
        out.root.remove("X");
        if (auto* layers = out.root.child("layers")) layers->remove("counts");
        out = io::subset(out, all_obs, io::mask_to_indices(h.highly_variable));
        std::vector<bool> rows(static_cast<size_t>(counts.n_rows), true);
        counts = pp::subset(counts, rows, h.highly_variable);
        processed = pp::subset(processed, rows, h.highly_variable);
      }
    }
    if (a->bin > 0) {
      pp::BinningOptions opt;
      opt.n_bins = a->bin;
      opt.mode = a->bin_deterministic ? pp::BinningMode::Deterministic : pp::BinningMode::Keyed;
      opt.seed = a->seed;
      pp::BinnedMatrix binned = pp::binning(processed, opt);
      out.set_matrix("X_binned", io::make_csr(pp::binned_csr(processed, binned)));
      io::Node rec = io::make_dict();
      rec.set("n_bins", io::make_scalar<int64_t>(a->bin));
      rec.set("mode", io::make_string(a->bin_deterministic ? "deterministic" : "keyed"));
      if (!a->bin_deterministic) rec.set("seed", io::make_scalar<uint64_t>(a->seed));
      steps.set("binning", std::move(rec));
    }
    out.set_matrix("counts", io::make_csr(counts));
    out.set_matrix("", io::make_csr(processed));
    if (out.root.child("uns") == nullptr) out.root.set("uns", io::make_dict());
    out.root.child("uns")->set("scfm_pp", std::move(steps));
    io::write_h5ad(out, a->output);
    std::cout << "pp: " << a->input << " -> " << a->output << ": " << obs_idx.size() << " cells x " << counts.n_cols
              << " genes (" << (x.n_rows - static_cast<int64_t>(obs_idx.size())) << " cells and "
              << (x.n_cols - static_cast<int64_t>(var_idx.size())) << " genes filtered out)\n";
  });
}

}  // namespace scfm::cli
