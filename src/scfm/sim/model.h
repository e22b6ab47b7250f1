// The simulator's generative model: negative-binomial cell types fitted to a real labelled dataset.
//
// For a cell of type t with library size L (drawn log-normal per type), gene g's count is
//   x ~ NB(mean = rel_mean[t][g] * L, dispersion = dispersion[t][g])   Var = mu + dispersion * mu^2
// and is then set to 0 with probability dropout[t][g] (zero inflation beyond the NB's own zeros;
// the NB mean is divided by 1 - dropout so that E[x] stays rel_mean * L). docs/simulate.md has the
// whole model, including batches and perturbations (simulate.h).
//
// Fitting (per type, on the reference's cells of that type with a non-zero total):
//   rel_mean     sum_i x_ig / sum_i L_i (pooled fraction of the library; sums to 1 over genes)
//   library      log L_i: mean and standard deviation (n - 1; 0 for a single cell)
//   dispersion   method of moments with cell-specific means mu_ig = rel_mean_g * L_i:
//                (sum_i (x_ig - mu_ig)^2 - sum_i mu_ig) / sum_i mu_ig^2, clamped to
//                [min_dispersion, max_dispersion]; min_dispersion for genes never seen.
//   dropout      (z_obs - z_nb) / (1 - z_nb) clamped to [0, max_dropout], where z_obs is the
//                observed fraction of zeros and z_nb the mean NB zero probability over the type's
//                library sizes (at most 256 evenly spaced quantiles of them); 0 when disabled.
// Pure functions: no files. Sizes: counts is cells x genes; labels has one entry per cell.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::sim {

struct FitOptions {
  double min_dispersion = 0.01;  // floor of the moment estimate (near-Poisson genes)
  double max_dispersion = 100;   // cap (genes seen in one or two cells)
  bool zero_inflation = true;    // fit dropout; false: dropout = 0 everywhere
  double max_dropout = 0.95;
};

struct CellTypeModel {
  std::string name;
  int64_t n_reference_cells = 0;  // cells of this type with a non-zero total in the reference
  double proportion = 0;          // of the reference's (non-empty) cells
  double log_library_mean = 0;    // natural log of the total counts
  double log_library_sd = 0;
  std::vector<double> rel_mean;    // per gene; sums to 1
  std::vector<double> dispersion;  // per gene (NB phi)
  std::vector<double> dropout;     // per gene, in [0, max_dropout]
};

struct SimModel {
  std::vector<std::string> genes;    // the reference's var names, in order
  std::vector<CellTypeModel> types;  // sorted by name
  FitOptions fit;
};

// Fits one CellTypeModel per distinct label (sorted by name). Values must be non-negative
// integers (counts). Throws scfm::Error on a size mismatch, a negative or fractional value, or a
// type whose cells all have total 0.
SimModel fit_model(const io::CsrMatrix& counts, const std::vector<std::string>& labels,
                   std::vector<std::string> genes, const FitOptions& options = {});

// P(x = 0) for NB(mean, dispersion).
double nb_zero_probability(double mean, double dispersion);

}  // namespace scfm::sim
