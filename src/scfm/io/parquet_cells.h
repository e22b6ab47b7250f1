// The seeds' cell tables in Parquet (io/parquet.h): scBenchmark's pretraining rows and scGPT's
// scBank data tables, one cell a row, with
//   genes        list<int32|int64>   vocabulary ids of the cell's measured genes (or list<float> of
//                                    whole numbers: scBenchmark's combined files cast them so)
//   expressions  list<float|double>  their values, same length
// and any flat columns (an `id`, obs strings). Several files (a folder's *.parquet, sorted by name)
// read as one table, one row group at a time: memory follows the largest row group, not the file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "scfm/io/cell_table.h"
#include "scfm/io/parquet.h"

namespace scfm::io {

struct ParquetCellsOptions {
  std::string genes = "genes", expressions = "expressions";  // column names
  std::string id = "id";                                     // the barcode column, when present
};

class ParquetCells : public CellTable {
 public:
  // `path`: a .parquet file or a folder of them. Every file must hold the two list columns with
  // the types above (a FormatError names the file, the column and what it found otherwise).
  ParquetCells(const std::string& path, const ParquetCellsOptions& options = {});

  int64_t n_rows() const override { return n_rows_; }
  const std::vector<std::string>& files() const { return files_; }
  // Flat columns every file has (obs candidates), in the first file's order.
  const std::vector<std::string>& flat_columns() const override { return flat_; }
  int n_blocks() const override { return static_cast<int>(blocks_.size()); }
  int64_t block_first(int b) const override { return blocks_.at(static_cast<size_t>(b)).first; }

  // Block b (one row group) as CSR rows over `n_cols` columns (the vocabulary's size): column =
  // gene id. An id outside [0, n_cols), or genes and expressions of different lengths in a row, is
  // a FormatError naming the file, the column and the row.
  CsrMatrix block(int b, int64_t n_cols) const override;
  // Block b's strings of flat columns: the id column (or the row number when there is none),
  // then `columns` (each must be a flat column of every file).
  std::vector<std::vector<std::string>> block_obs(int b, const std::vector<std::string>& columns) const override;

 private:
  struct Block {
    int file = 0, row_group = 0;
    int64_t first = 0, rows = 0;
  };
  ParquetCellsOptions options_;
  std::vector<std::string> files_, flat_;
  std::vector<std::unique_ptr<ParquetFile>> open_;
  std::vector<Block> blocks_;
  int64_t n_rows_ = 0;
  bool has_id_ = false;
};

// A .parquet file, or a folder holding .parquet files (and no .h5ad).
bool is_parquet_input(const std::string& path);

}  // namespace scfm::io
