// Scoring perturbation predictions on a prepared file's held-out conditions, with the baselines
// every method is compared against in the same table:
//   no-change   the control cells' mean profile (predicts that nothing happens)
//   mean        the unweighted mean of the training perturbations' mean profiles (the "mean
//               baseline", strong on pearson_delta because perturbations share a common response)
//   additive    control + the sum of the training single-gene effects (mean(single) - control) of
//               the condition's genes; a gene without a training single adds nothing (so an
//               unseen single is predicted as no change)
// A prediction is one mean profile per condition (GEARS compares the mean over a condition's cells
// of predicted and true expression). Metrics per condition are GEARS's (eval/perturbation_metrics.h)
// on its top-20 DE genes and, with the suffix "_non_dropout", on its top-20 non-dropout DE genes;
// the control profile of the delta metrics is the mean of every control cell, as GEARS and scGPT
// use. Averages: over all test conditions and over each GEARS subgroup (unseen_single,
// combo_seen0/1/2) that has members.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "scfm/eval/report.h"
#include "scfm/tasks/perturb_data.h"

namespace scfm::tasks {

struct PerturbPrediction {
  std::string method;
  std::map<std::string, std::vector<double>> mean;  // condition -> predicted mean profile
};

// The three baselines for `conditions` (fitted on data.split.train).
std::vector<PerturbPrediction> perturb_baselines(const PerturbData& data, const std::vector<std::string>& conditions);

// results.json content: per method, per condition metrics and the averages; method order kept.
// Throws scfm::Error when a method lacks a condition or a profile has the wrong length.
nlohmann::json score_perturbations(const PerturbData& data, const std::vector<PerturbPrediction>& methods,
                                   const std::vector<std::string>& conditions);

// The report of score_perturbations: the main table (methods x GEARS metrics over the test set),
// one table per subgroup, the non-dropout table.
eval::Report perturb_report(const nlohmann::json& scored, const std::string& title);

// Scores `methods` plus the baselines on `conditions`, writes the report into out_dir and
// predictions.h5ad (obs = conditions, var = genes, X = the true mean profiles, one layer per
// method's predicted profiles); returns the scored JSON with `extra`'s keys added.
nlohmann::json write_perturb_report(const PerturbData& data, std::vector<PerturbPrediction> methods,
                                    const std::vector<std::string>& conditions, const std::string& out_dir,
                                    const std::string& set, nlohmann::json extra);

}  // namespace scfm::tasks
