// scfm perturb classify: which perturbation produced a cell, from a frozen embedding, by
// scBenchmark's perturbation-classification protocol (downstreams_cls2.py: the perturbation as
// the label, control a class of its own, seeded 70/30 trials, a linear probe on the embedding)
// run through `scfm classify` (tasks/classify.h): kNN and the linear probe on the same splits,
// and the PCA baseline in the same table. scBenchmark's script computes no kNN (its accuracy is
// hard-coded 0) and draws unseeded trials; here both classifiers run on seeded splits.
// Conditions are checked with GEARS's syntax; --singles-only leaves combinations unlabelled
// (scBenchmark's files hold singles and control only).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "scfm/tasks/classify.h"

namespace scfm::tasks {

struct PerturbClassifyOptions {
  ClassifyOptions classify;            // input, embedding, out_dir, trials, ... (label_col is set here)
  std::string condition_col = "condition";
  bool singles_only = false;
};

nlohmann::json perturb_classify(const PerturbClassifyOptions& options);

}  // namespace scfm::tasks
