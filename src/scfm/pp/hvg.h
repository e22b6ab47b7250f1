// scanpy.pp.highly_variable_genes: flavors "seurat", "cell_ranger" and "seurat_v3", with batches.
//
// Pure functions on cells x genes CSR rows (io::CsrMatrix): no files, no LibTorch. Entries not
// stored are zero; explicit zeros are allowed. Every statistic is computed in double, whatever the
// storage type; variances use n-1 and are two-pass (mean first, then squared deviations), which is
// what Seurat does and what scanpy's sparse path does. No state is shared between calls.
//
// What each flavor fills (scanpy's var column names; the others stay empty vectors):
//   seurat       means (log1p of the mean of expm1(x)), dispersions (log of var/mean of expm1(x)),
//                dispersions_norm (z-score within 20 equal-width mean bins), highly_variable.
//                Expects log1p data (natural log).
//   cell_ranger  means, dispersions (var/mean, not logged), dispersions_norm ((d - median)/MAD within
//                bins at the 10th, 15th, ..., 100th percentile of the means), highly_variable.
//                Expects normalised, not logged, data.
//   seurat_v3    means, variances, variances_norm, highly_variable_rank, highly_variable, plus
//                variances_expected (10^loess fit; Seurat's variance.expected, not a scanpy column).
//                Expects counts. Needs n_top_genes.
//   with batches (options.batch non-empty) also highly_variable_nbatches, and for seurat and
//                cell_ranger highly_variable_intersection.
//
// Departures from scanpy, all at ties or degenerate inputs (documented in docs/pp.md): sorts are
// stable (numpy's default quicksort is not), cell_ranger drops duplicate percentile edges (pandas
// raises), dispersions_norm stays double (scanpy stores float32), and with batches the seurat_v3
// means/variances are those of all cells (scanpy >= 1.10; 1.9 reported the last batch's).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::pp {

enum class HvgFlavor { Seurat, CellRanger, SeuratV3 };

// "seurat", "cell_ranger", "seurat_v3" (scanpy's strings); throws scfm::Error on anything else.
HvgFlavor hvg_flavor_from_string(const std::string& name);
std::string to_string(HvgFlavor flavor);

// How the loess fit of seurat_v3 is evaluated at the data points.
//   Interpolate: R's default surface = "interpolate" (what Seurat and scanpy's skmisc loess use):
//                local fits at the vertices of a k-d tree (cells of at most floor(n*span*cell)
//                points), blended by cubic Hermite interpolation with the vertex slopes.
//   Direct:      surface = "direct": one local fit per data point (slower, smoother reference).
enum class LoessSurface { Interpolate, Direct };

struct LoessOptions {
  double span = 0.3;   // R loess(span=); Seurat's loess.span and scanpy's span for seurat_v3
  int degree = 2;      // 0, 1 or 2 (R's default 2)
  double cell = 0.2;   // R loess.control(cell=): a k-d cell holds at most floor(n*span*cell) points
  LoessSurface surface = LoessSurface::Interpolate;
};

// One-predictor loess, family "gaussian" (no robustness iterations), unit weights: the fitted
// values at x, as R's `loess(y ~ x, span=, degree=)$fitted`. Sizes: x and y have n >= 2 entries.
// Throws scfm::Error when the span leaves too few points for the degree.
std::vector<double> loess_fit(const std::vector<double>& x, const std::vector<double>& y,
                              const LoessOptions& options = {});

struct HighlyVariableGenesOptions {
  HvgFlavor flavor = HvgFlavor::Seurat;  // scanpy flavor=, default "seurat"
  // scanpy n_top_genes=: keep this many genes (seurat/cell_ranger: by dispersions_norm, ties at the
  // cut-off all kept; seurat_v3: by rank). Unset: the mean/dispersion cutoffs below select.
  // Required for seurat_v3.
  std::optional<int64_t> n_top_genes;
  // scanpy's cutoffs (strict inequalities), used only without n_top_genes and not for seurat_v3.
  double min_mean = 0.0125;
  double max_mean = 3;
  double min_disp = 0.5;
  double max_disp = std::numeric_limits<double>::infinity();
  int n_bins = 20;     // scanpy n_bins=: equal-width mean bins of flavor seurat
  double span = 0.3;   // scanpy span=: loess span of seurat_v3
  LoessSurface loess_surface = LoessSurface::Interpolate;
  // scanpy batch_key=: one batch code per cell (any int32 values; size n_rows), or empty for one
  // batch. seurat/cell_ranger run per batch on the genes expressed in it (genes absent from a
  // batch count as 0 there) and average; seurat_v3 ranks per batch and takes the median rank.
  std::vector<int32_t> batch;
};

// One entry per gene (column) in every filled vector.
struct HighlyVariableGenes {
  std::vector<bool> highly_variable;
  std::vector<double> means;
  std::vector<double> variances;           // seurat_v3
  std::vector<double> variances_expected;  // seurat_v3 (single batch: of all cells; batches: empty)
  std::vector<double> variances_norm;      // seurat_v3 (mean over batches)
  std::vector<double> dispersions;         // seurat, cell_ranger (NaN where var/mean == 0 in seurat)
  std::vector<double> dispersions_norm;    // seurat, cell_ranger
  // seurat_v3: 0-based rank by variances_norm (median over batches where in the top n_top_genes),
  // NaN for genes never in the top n_top_genes.
  std::vector<double> highly_variable_rank;
  std::vector<int64_t> highly_variable_nbatches;    // with batches
  std::vector<bool> highly_variable_intersection;  // with batches, seurat and cell_ranger
};

// Float32 values as stored in `m`. Throws scfm::Error on a batch vector of the wrong size, a missing
// n_top_genes for seurat_v3, or fewer than 2 cells in a batch.
HighlyVariableGenes highly_variable_genes(const io::CsrMatrix& m,
                                          const HighlyVariableGenesOptions& options = {});

// Double-precision path: `values` (size m.nnz()) replace m.data, e.g. LogNormalize computed in
// double as Seurat does (log1p(x / total * 1e4)); m.data is not read.
HighlyVariableGenes highly_variable_genes(const io::CsrMatrix& m, const std::vector<double>& values,
                                          const HighlyVariableGenesOptions& options = {});

}  // namespace scfm::pp
