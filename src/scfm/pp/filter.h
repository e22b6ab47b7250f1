// scanpy's filter_cells / filter_genes: which rows and columns pass. Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::pp {

// Thresholds are inclusive, as in scanpy; a negative value means "no bound".
struct FilterCellsOptions {
  double min_counts = -1, max_counts = -1;  // total of the row
  int64_t min_genes = -1, max_genes = -1;   // non-zero entries of the row
};
struct FilterGenesOptions {
  double min_counts = -1, max_counts = -1;  // total of the column
  int64_t min_cells = -1, max_cells = -1;   // cells with a non-zero value
};

std::vector<bool> filter_cells(const io::CsrMatrix& m, const FilterCellsOptions& options);
std::vector<bool> filter_genes(const io::CsrMatrix& m, const FilterGenesOptions& options);

// Keeps the chosen rows and columns (column indices renumbered). Sizes of the masks: n_rows, n_cols.
io::CsrMatrix subset(const io::CsrMatrix& m, const std::vector<bool>& rows, const std::vector<bool>& cols);

}  // namespace scfm::pp
