// The differentially expressed genes GEARS scores its _de metrics on (gears/data_utils.py:
// get_DE_genes, get_dropout_non_zero_genes).
//
// GEARS ranks every gene of a perturbation against the control cells with scanpy's
// rank_genes_groups(method "t-test", reference "ctrl", rankby_abs, n_genes = all) on the
// log-normalised matrix: Welch's t from the two groups' means and variances (ddof 1, scanpy's
// E[x^2] - E[x]^2 form in double), NaN scores (both groups constant and equal) set to 0, genes in
// descending |t|. Ties keep the lower gene index first (scanpy's order among exact ties is
// numpy's unstable argsort). From that ranking:
//   top_de            the first n_top (20): rank_genes_groups_cov_all[pert][:20]
//   top_non_dropout   the first n_top among genes with a non-zero mean in the perturbation, or
//                     zero there and zero in control ("true zeros"): top_non_dropout_de_20
//   top_non_zero      the first n_top among genes with a non-zero mean in the perturbation
#pragma once

#include <cstdint>
#include <vector>

namespace scfm::eval {

struct DeGenes {
  std::vector<int64_t> ranked;  // every gene, best first
  std::vector<double> scores;   // t per gene (gene order)
  std::vector<int64_t> top_de, top_non_dropout, top_non_zero;
};

// x: cells x genes, row-major; group / control: row indices (each >= 2 rows for a defined t).
// Throws scfm::Error on an empty group or control or an index out of range.
DeGenes rank_de_genes(const float* x, int64_t n_rows, int64_t genes, const std::vector<int64_t>& group,
                      const std::vector<int64_t>& control, int64_t n_top = 20);

}  // namespace scfm::eval
