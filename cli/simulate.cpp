// scfm simulate --like REF.h5ad --label-col cell_type --cells N [--batches K --batch-strength S]
//                [--perturb-genes G] [--seed S] --out OUT.h5ad|STORE [--vocab vocab.json]
//
// Fits negative-binomial cell types to a labelled reference (sim/model.h) and draws N cells
// (sim/simulate.h), with batches and knock-down perturbations; the ground truth goes to obs and
// uns["simulate"]. OUT ending in .h5ad: an .h5ad streamed in blocks; otherwise a cell store
// (needs --vocab). The model: docs/simulate.md.
#include <iostream>
#include <thread>

#include "commands.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/sim/model.h"
#include "scfm/sim/simulate.h"
#include "scfm/sim/write.h"
#include "scfm/util/error.h"

namespace scfm::cli {

void add_simulate(CLI::App& app, GlobalOptions& global);

namespace {
struct SimulateArgs {
  std::string like, label_col = "cell_type", layer, out, vocab;
  sim::SimulateOptions sim;
  sim::FitOptions fit;
  int64_t block_cells = 4096;
  int64_t shard_cells = 100000;
  bool overwrite = false;
  bool no_zero_inflation = false;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void add_simulate(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("simulate", "Simulate labelled counts from NB cell types fitted to a real dataset");
  auto a = std::make_shared<SimulateArgs>();
  cmd->add_option("--like", a->like, "the labelled reference .h5ad (raw counts)")->required();
  cmd->add_option("--label-col", a->label_col, "obs column of cell types")->capture_default_str();
  cmd->add_option("--layer", a->layer, "take the reference counts from this layer instead of X");
  cmd->add_option("--cells", a->sim.n_cells, "cells to draw")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--batches", a->sim.n_batches, "number of batches")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-strength", a->sim.batch_strength, "sd of the per-batch, per-gene log effect")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--perturb-genes,--perturbations", a->sim.n_perturb_genes, "knock-down targets (cells: control or one target)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--modules", a->sim.n_modules, "co-expression modules of genes that rise and fall together (var['module'])")
      ->capture_default_str();
  cmd->add_option("--module-size", a->sim.module_size, "genes per co-expression module")->capture_default_str();
  cmd->add_option("--module-strength", a->sim.module_strength, "sd of a cell's log activity of each module")
      ->capture_default_str();
  cmd->add_option("--program-size", a->sim.program_size, "downstream genes per target")->capture_default_str();
  cmd->add_option("--program-strength", a->sim.program_strength, "scale of the program's log fold changes")
      ->capture_default_str();
  cmd->add_option("--combos", a->sim.n_combos, "pairs of targets drawn as GEARS-style A+B conditions")
      ->capture_default_str();
  cmd->add_option("--interaction-strength", a->sim.interaction_strength,
                  "sd of a combination's extra log effect on the genes of its two programs")
      ->capture_default_str();
  cmd->add_option("--seed", a->sim.seed, "seed (cell i depends only on seed and i)")->capture_default_str();
  cmd->add_option("--min-dispersion", a->fit.min_dispersion, "floor of the NB dispersion estimate")->capture_default_str();
  cmd->add_flag("--no-zero-inflation", a->no_zero_inflation, "no dropout beyond the NB's zeros");
  cmd->add_option("--out,-o", a->out, "OUT.h5ad, or a store folder (any other name)")->required();
  cmd->add_option("--vocab", a->vocab, "vocab.json for a store output");
  cmd->add_option("--block-cells", a->block_cells, "cells generated per block")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shard-cells", a->shard_cells, "store: cells per shard")->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "store: replace an existing store");
  cmd->callback([a, &global] {
    const bool h5ad = ends_with(a->out, ".h5ad");
    if (!h5ad && a->vocab.empty())
      throw Error("simulate: " + a->out + " is not an .h5ad, so a store is written: it needs --vocab");
    io::AnnData ref = io::read_h5ad(a->like);
    const auto columns = io::dataframe_columns(ref.obs());
    if (std::find(columns.begin(), columns.end(), a->label_col) == columns.end())
      throw Error("simulate: " + a->like + ": obs has no column '" + a->label_col + "' (--label-col)");
    a->fit.zero_inflation = !a->no_zero_inflation;
    sim::SimModel model = sim::fit_model(ref.matrix_csr(a->layer), io::column_strings(ref.obs(), a->label_col),
                                         ref.var_names(), a->fit);
    ref = io::AnnData();
    sim::SimDesign design = sim::make_design(std::move(model), a->sim);
    sim::WriteOptions w;
    w.block_cells = a->block_cells;
    w.shard_cells = a->shard_cells;
    w.overwrite = a->overwrite;
    w.threads = global.threads > 0 ? global.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    w.provenance = {{"reference", a->like}, {"label_col", a->label_col}, {"layer", a->layer}};
    int64_t written = a->sim.n_cells;
    if (h5ad) {
      sim::write_simulated_h5ad(design, a->out, w);
    } else {
      written = sim::write_simulated_store(design, io::Vocab::load(a->vocab), a->out, w);
    }
    std::cout << "simulate: " << written << " cells x " << design.model.genes.size() << " genes, "
              << design.model.types.size() << " cell types, " << a->sim.n_batches << " batches, "
              << design.perturbations.size() << " perturbations, " << design.combinations.size() << " combinations -> " << a->out << "\n";
  });
}

}  // namespace scfm::cli
