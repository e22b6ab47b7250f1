// Perturb-seq data in GEARS's layout, prepared once and read by every `scfm perturb` verb.
//
// Input (GEARS's convention): obs `condition` ("ctrl", "A+ctrl", "A+B"), var `gene_name` (or the
// var index), counts or log-normalised values in X (or a layer). `perturb_prepare` does what
// GEARS's PertData.new_data_process + prepare_split do, in one file:
//   - checks every condition's syntax, that control cells exist, and that every perturbed gene is
//     a gene of the file (FormatError naming file, field and value; nothing written);
//   - counts (every stored value a non-negative integer) -> normalize_total(1e4) + log1p, as GEARS
//     expects; values that are not counts are taken as already log-normalised;
//   - genes: the n_hvg highly variable genes (seurat_v3 on counts, seurat on log values; 0 = all)
//     plus every perturbed gene, in the file's order;
//   - DE genes of every perturbed condition against control (eval/perturbation_de.h);
//   - GEARS's seeded simulation split (eval/gears.h).
// Output .h5ad: X = the log-normalised values (CSR float32) of the chosen genes; obs as the
// input plus `split` (train/val/test of the cell's condition); var gene_name; uns
// rank_genes_groups_cov_all / top_non_dropout_de_20 / top_non_zero_de_20 (condition -> gene
// names, GEARS's keys; keyed by condition rather than GEARS's cell-type_condition_dose name) and
// scfm_perturb (JSON: split, subgroups, settings).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scfm/eval/gears.h"

namespace scfm::tasks {

struct PerturbPrepareOptions {
  std::string input, output;
  std::string condition_col = "condition";
  std::string gene_col = "gene_name";  // var column; falls back to the var index when absent
  std::string layer;
  int64_t n_hvg = 2000;                 // 0: every gene
  double target_sum = 1e4;
  int64_t n_top_de = 20;
  eval::GearsSplitOptions split;
};

nlohmann::json perturb_prepare(const PerturbPrepareOptions& options);

// A prepared file in memory.
struct PerturbData {
  std::string path;
  int64_t n_cells = 0, n_genes = 0;
  std::vector<std::string> genes;        // var gene_name
  std::vector<float> x;                  // n_cells x n_genes, log-normalised
  std::vector<std::string> conditions;   // distinct, order of first appearance
  std::vector<eval::Condition> parsed;   // per condition
  std::vector<int32_t> cell_condition;   // per cell: index into conditions
  std::vector<std::vector<int64_t>> cells_of;  // per condition
  int32_t ctrl = -1;                     // index of "ctrl"
  std::vector<std::string> cell_type;    // obs cell_type when present, else empty
  eval::GearsSplit split;
  // per perturbed condition: gene indices
  std::map<std::string, std::vector<int64_t>> top_de, top_non_dropout;
  nlohmann::json settings;

  int64_t gene_index(const std::string& name) const;  // -1 when absent
  // Index into conditions; throws scfm::Error naming the file when the condition has no cells.
  int32_t condition_index(const std::string& name) const;
  const float* row(int64_t cell) const { return x.data() + cell * n_genes; }
};

// Reads a file written by perturb_prepare. Throws FormatError naming what is missing.
PerturbData read_perturb_data(const std::string& path);

}  // namespace scfm::tasks
