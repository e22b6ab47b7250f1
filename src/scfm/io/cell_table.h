// A table of cells, one a row, whose genes are already ids of a gene vocabulary: what the seeds
// store their pretraining data as (scBenchmark's Parquet rows, scGPT's scBank tables in Parquet
// or JSON lines). Read in blocks (a Parquet row group, a run of JSON lines), so a reader holds one
// block, not the table. Implementations: ParquetCells (parquet_cells.h), JsonLinesCells
// (scbank.h); scbank.h also opens a whole scBank folder.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::io {

class CellTable {
 public:
  virtual ~CellTable() = default;
  virtual int64_t n_rows() const = 0;
  // Flat columns every row has (obs candidates).
  virtual const std::vector<std::string>& flat_columns() const = 0;
  virtual int n_blocks() const = 0;
  virtual int64_t block_first(int b) const = 0;
  int64_t block_rows(int b) const { return (b + 1 < n_blocks() ? block_first(b + 1) : n_rows()) - block_first(b); }
  // Block b as CSR rows over n_cols columns (column = gene id; ids outside [0, n_cols) or rows
  // whose genes and expressions differ in length are FormatErrors naming the file and the row).
  virtual CsrMatrix block(int b, int64_t n_cols) const = 0;
  // Block b's strings: the id column (or the row number), then `columns`.
  virtual std::vector<std::vector<std::string>> block_obs(int b, const std::vector<std::string>& columns) const = 0;
};

}  // namespace scfm::io
