// Gene importance for classification, from the data: the one-way ANOVA F statistic of each gene's
// values across cell labels (sklearn.feature_selection.f_classif), and the ranking scBenchmark's
// incremental script expects (most important first), per dataset.
//
// scBenchmark ranks genes per downstream dataset from a precomputed, unreleased file
// (analysis/imp_genes4cls.torch). scfm computes the ranking from the cells instead: within each
// group (dataset), F over the labels of that group's cells. Zeros of the sparse matrix are values
// (0), as in a dense f_classif. A gene constant within every label (no within-label variance) has
// F = +inf when its label means differ and NaN when they do not, as sklearn's division gives.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::data {

// F statistic per column of `x` over `labels` (one per row, values 0..n_labels-1; rows with a
// negative label are skipped). Throws scfm::Error when labels.size() != x.n_rows or fewer than two
// labels / than n_labels + 1 rows take part.
std::vector<double> anova_f(const io::CsrMatrix& x, const std::vector<int32_t>& labels);

// Column indices by F, largest first, NaN last, ties by index; the first `top_n` (all when < 0).
std::vector<int32_t> rank_by_score(const std::vector<double>& score, int64_t top_n);

}  // namespace scfm::data
