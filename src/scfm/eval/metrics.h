// Classification metrics shared by classify, finetune-annotate and map.
//
// Labels are integer codes into a list of class names. Definitions follow scikit-learn's
// (the numbers users compare against): accuracy = correct / n; per class c, precision =
// TP / (TP + FP) and recall = TP / (TP + FN), 0 when the denominator is 0 (sklearn's
// zero_division=0); F1 = 2PR / (P + R), 0 when P + R = 0; macro-F1 = the unweighted mean of F1
// over the classes that occur in the truth or in the predictions (sklearn's default `labels`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scfm::eval {

struct ClassificationMetrics {
  std::vector<std::string> classes;              // all class names, code order
  std::vector<std::vector<int64_t>> confusion;   // [true code][predicted code]
  std::vector<double> precision, recall, f1;     // per class
  std::vector<int64_t> support;                  // true count per class
  int64_t n = 0;
  double accuracy = 0;
  double macro_f1 = 0;
};

// truth and pred hold codes in [0, classes.size()); a negative truth code (unlabelled cell) is
// skipped. Throws scfm::Error on sizes that differ or codes out of range.
ClassificationMetrics classification_metrics(const std::vector<int32_t>& truth, const std::vector<int32_t>& pred,
                                             const std::vector<std::string>& classes);

nlohmann::json to_json(const ClassificationMetrics& m);

// Mean and sample standard deviation (n - 1; 0 for fewer than two values).
struct MeanStd {
  double mean = 0, std = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// Codes for string labels: classes sorted (std::string order) and each label's index.
// Empty labels and "nan" (pandas' missing) get code -1 and are not classes.
struct Encoded {
  std::vector<std::string> classes;
  std::vector<int32_t> codes;
};
Encoded encode_labels(const std::vector<std::string>& labels);
// Codes of `labels` in an existing class list; labels not in it get -1.
std::vector<int32_t> encode_with(const std::vector<std::string>& labels, const std::vector<std::string>& classes);

// The seeded split scfm uses for every trial: a permutation of 0..n-1 keyed by seed (SplitMix64
// Fisher-Yates), the first round(train_ratio * n) cells are the training part. Stratification is
// not applied (as the original protocol); the result depends only on (n, seed, ratio).
struct Split {
  std::vector<int64_t> train, test;
};
Split random_split(int64_t n, double train_ratio, uint64_t seed);

}  // namespace scfm::eval
