// Drawing cells from a fitted SimModel (model.h), with optional batches and perturbations.
//
// Cell i (global index) draws everything from streams keyed by (seed, i): its type (reference
// proportions), batch (uniform over n_batches), perturbation (uniform over "control" and the
// n_perturb_genes targets), library size L = exp(N(log_library_mean, log_library_sd)), then for
// every gene, in order, its count. So a cell's row depends only on (design, seed, i): never on the
// block size, the thread count or which cells are drawn with it.
//
// The mean of gene g in cell i is
//   m = rel_mean[t][g] * L * exp(batch_log_effect[b][g]) * perturbation_factor[k][g] * module_factor[i][g]
//       / (1 - dropout[t][g])
// where batch_log_effect[b][g] ~ N(0, batch_strength) (drawn once per design, keyed by seed, b, g)
// and perturbation_factor is knockdown (in (0, 1)) on the target, exp(log_fc) on each gene of its
// program, 1 elsewhere (1 everywhere for controls); module_factor is 1 outside the co-expression
// modules (SimulateOptions::n_modules). The count is NB(m, dispersion[t][g]) (exact:
// inversion of the zero-truncated NB below mean 1, gamma-Poisson above), then 0 with probability
// dropout[t][g].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/sparse.h"
#include "scfm/sim/model.h"

namespace scfm::sim {

struct SimulateOptions {
  int64_t n_cells = 10000;
  int n_batches = 1;            // batches "batch0".."batch{K-1}"
  double batch_strength = 0;    // standard deviation of the per-batch, per-gene log effect
  int n_perturb_genes = 0;      // knock-down targets (0: every cell is "control")
  int program_size = 20;        // downstream genes per target
  double program_strength = 1;  // |log fold change| of program genes ~ U(0.5, 1.5) * strength
  double min_knockdown = 0.05;  // residual expression of a target: U(min_knockdown, max_knockdown)
  double max_knockdown = 0.3;
  // Combinations (GEARS's "A+B" conditions): n_combos distinct pairs of targets (needs >= 2
  // targets). A pair's mean is both singles' factors multiplied, times exp(e_g) on every gene of
  // either program, e_g ~ N(0, interaction_strength) drawn once per (pair, gene): the additive
  // (in log space) model of the singles is right up to that interaction.
  int n_combos = 0;
  double interaction_strength = 0.3;
  // Co-expression modules (ground truth for gene programs, docs/grn.md): n_modules disjoint sets of
  // module_size genes (drawn among the 2000 highest-mean genes, never a perturbation target). Each
  // cell draws one activity a ~ N(0, module_strength) per module (keyed by seed, cell) and every
  // gene of the module gets its mean times exp(a - module_strength^2 / 2) (mean-preserving), so the
  // module's genes rise and fall together across cells of every type.
  int n_modules = 0;
  int module_size = 20;
  double module_strength = 0.7;
  uint64_t seed = 0;
};

struct Combination {
  int32_t first = -1, second = -1;        // indices into SimDesign::perturbations, first < second
  std::vector<int32_t> genes;             // the union of both programs, sorted
  std::vector<double> interaction_log_fc; // e_g per gene of `genes`
};

struct Perturbation {
  int32_t target = -1;  // gene index
  double knockdown = 1;  // factor on the target's mean
  std::vector<int32_t> program_genes;
  std::vector<double> program_log_fc;  // natural log
};

struct SimDesign {
  SimModel model;
  SimulateOptions options;
  std::vector<std::vector<double>> batch_log_effect;  // [batch][gene]
  std::vector<Perturbation> perturbations;            // one per target
  std::vector<Combination> combinations;              // perturbation codes P.. P + n_combos - 1
  std::vector<std::vector<int32_t>> modules;          // gene indices per module, ascending
  // Derived once: [type * n_batches + batch][gene] = rel_mean * exp(effect) / (1 - dropout).
  std::vector<std::vector<double>> base_mean;
  std::vector<double> type_cdf;
};

// Draws the batch effects and perturbation programs (keyed by the seed) and precomputes the means.
// Targets are drawn among the 500 genes with the highest mean rel_mean over types, program genes
// among the 2000 highest (never a target). Throws scfm::Error on options out of range.
SimDesign make_design(SimModel model, const SimulateOptions& options);

struct CellLabels {
  int32_t type = 0;
  int32_t batch = 0;
  // -1 = control; 0..P-1 the single targets (SimDesign::perturbations), P.. the combinations
  // (SimDesign::combinations[perturbation - P]); drawn uniformly over all of them and control
  int32_t perturbation = -1;
  double library = 0;         // the drawn L
};

// The labels of cell `cell` (no gene draws).
CellLabels cell_labels(const SimDesign& design, int64_t cell);

// Counts of cells [start, start + count) as float32 CSR (zeros not stored). Labels go to `labels`
// when given (resized to count). Thread-safe: the design is only read.
io::CsrMatrix simulate_block(const SimDesign& design, int64_t start, int64_t count,
                             std::vector<CellLabels>* labels = nullptr);

// Perturbation names: "control", the target gene's name, or "A+B" for a combination.
std::string perturbation_name(const SimDesign& design, int32_t perturbation);
// GEARS's condition names: "ctrl", "A+ctrl", "A+B".
std::string condition_name(const SimDesign& design, int32_t perturbation);

}  // namespace scfm::sim
