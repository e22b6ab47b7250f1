// scGPT's scBank folders (scgpt/scbank DataBank, also what scBenchmark's download scripts build):
//   manifest.json             {"on_disk_format": "parquet"|"json", "main_data": "counts", "gene_vocab_md5": null}
//   gene_vocab.json           {gene: id}: what the tables' `genes` ids index (no special tokens)
//   <table>.datatable.parquet | <table>.datatable.json    one cell a row: id, genes, expressions
//   studytable.json           (not read)
// The main table is manifest["main_data"]; JSON tables are JSON lines (datasets' to_json:
// {"id": 0, "genes": [...], "expressions": [...]} a line). Ingest maps the folder's gene ids to
// the store's vocabulary by gene name (store/ingest.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scfm/io/cell_table.h"
#include "scfm/io/parquet_cells.h"
#include "scfm/io/vocab.h"

namespace scfm::io {

// JSON-lines cell rows, read in blocks of `block_rows` lines (one pass at open records where each
// block starts).
class JsonLinesCells : public CellTable {
 public:
  JsonLinesCells(const std::string& path, const ParquetCellsOptions& names = {}, int64_t block_rows = 4096);
  int64_t n_rows() const override { return n_rows_; }
  const std::vector<std::string>& flat_columns() const override { return flat_; }
  int n_blocks() const override { return static_cast<int>(starts_.size()); }
  int64_t block_first(int b) const override { return static_cast<int64_t>(b) * block_rows_; }
  CsrMatrix block(int b, int64_t n_cols) const override;
  std::vector<std::vector<std::string>> block_obs(int b, const std::vector<std::string>& columns) const override;

 private:
  std::vector<std::string> lines(int b) const;
  std::string path_;
  ParquetCellsOptions names_;
  int64_t block_rows_, n_rows_ = 0;
  std::vector<int64_t> starts_;  // byte offset of each block's first line
  std::vector<std::string> flat_;
};

struct ScbankFolder {
  std::string dir, format, main_table, table_path;
  Vocab gene_vocab;  // gene_vocab.json
  std::unique_ptr<CellTable> table;
};

// A folder with manifest.json and gene_vocab.json.
bool is_scbank(const std::string& dir);
// Opens it; a FormatError names manifest.json's field, the vocabulary or the table when one is
// missing or not what scBank writes.
ScbankFolder open_scbank(const std::string& dir, const ParquetCellsOptions& names = {});

}  // namespace scfm::io
