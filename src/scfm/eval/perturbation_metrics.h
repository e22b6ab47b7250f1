// GEARS's perturbation-prediction metrics (gears/inference.py: compute_metrics, deeper_analysis,
// non_dropout_analysis), by GEARS's names, for one perturbation from mean profiles: the mean over
// the perturbation's cells of the predicted and of the true expression, the control cells' mean,
// and the perturbation's top differentially expressed genes (GEARS: 20 from
// rank_genes_groups_cov_all, or top_non_dropout_de_20 for the non-dropout variants).
//   mse, pearson                 all genes, prediction vs truth
//   mse_de, pearson_de           the DE genes
//   pearson_delta                all genes, (pred - ctrl) vs (truth - ctrl)
//   pearson_delta_de             the DE genes, idem
// Pearson is scipy.stats.pearsonr's r, with GEARS's rule that an undefined r (a constant
// input) counts as 0; mse is sklearn's mean_squared_error. GEARS reports the mean of each over
// the perturbations of a set (control excluded from the _de means).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scfm::eval {

// scipy's pearsonr r (computed in double, centred first); NaN when either input is constant or
// has fewer than 2 values. Throws scfm::Error when the sizes differ.
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double mean_squared_error(const std::vector<double>& x, const std::vector<double>& y);

struct PerturbationMetrics {
  double mse = 0, pearson = 0, mse_de = 0, pearson_de = 0, pearson_delta = 0, pearson_delta_de = 0;
  nlohmann::json to_json(const std::string& suffix = "") const;  // GEARS's keys (+ suffix)
};

// All vectors are one value per gene; de: gene indices (each < the number of genes). Throws
// scfm::Error on sizes that differ, an empty DE list or an index out of range.
PerturbationMetrics perturbation_metrics(const std::vector<double>& pred_mean, const std::vector<double>& truth_mean,
                                         const std::vector<double>& ctrl_mean, const std::vector<int64_t>& de);

// The column means of the rows `rows` of x (row-major, `genes` wide), in double.
std::vector<double> mean_profile(const float* x, int64_t genes, const std::vector<int64_t>& rows);

// GEARS's averages over a set of perturbations: each metric's mean.
PerturbationMetrics mean_metrics(const std::vector<PerturbationMetrics>& per_perturbation);

}  // namespace scfm::eval
