// Agreement between two labelings of the same cells, with scikit-learn's definitions (the
// numbers scib reports): normalized_mutual_info_score (average_method "arithmetic"),
// adjusted_rand_score, and the binary F1 of one class. Codes are non-negative integers; the
// values need not be contiguous.
#pragma once

#include <cstdint>
#include <vector>

namespace scfm::eval {

// NMI = MI / ((H(a) + H(b)) / 2), natural logarithms; 1 when both labelings have one class,
// 0 when MI is 0. Throws scfm::Error on sizes that differ or negative codes.
double nmi(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// ARI from the pair-confusion matrix, as sklearn 1.2: 1 when no pair disagrees.
double ari(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// F1 of "truth == t" against "pred == p": 2 TP / (2 TP + FP + FN), 0 when there is no positive.
double binary_f1(const std::vector<int32_t>& truth, int32_t t, const std::vector<int32_t>& pred, int32_t p);

}  // namespace scfm::eval
