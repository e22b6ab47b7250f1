// Ingest: .h5ad files and 10x matrices -> a cell store (writer.h), by vocabulary gene id.
//
// Each input's genes (the var index, or `gene_col`) are matched to the vocabulary by exact name
// (io::match_genes). For every cell, in input order and inputs in the order given: the non-zero
// values of matched genes become the row (ids ascending; two var genes with the same vocab id
// are summed and counted as merged); values of unmatched genes are dropped and the genes counted;
// a cell left with no non-zero value is dropped and counted ("all zero" in the vocabulary's
// genes, which includes cells that were empty in the input). Nothing is dropped silently: the
// counts and examples go to the manifest under "ingest" and to the returned report.
//
// Obs columns of the store: "dataset" (the input's name: its file or folder name without
// .h5ad/.h5, made unique), "barcode" (the input's obs index), then `obs_columns` as strings
// (categoricals as their labels, NA as ""). An input without a requested column is an error
// naming the file and listing its columns, unless `allow_missing_obs` (then "").
//
// Memory: for .h5ad inputs the matrix is read in blocks of `block_rows` cells
// (io::H5adMatrixReader) and only obs/var are loaded; with the writer's shard buffer, memory is
// O(block + shard + obs strings of one input), never the matrix. 10x inputs (MEX folders, .h5)
// are read whole into memory (io::read_any) - acceptable for single 10x runs, not for atlases.
//
// Failure: any error throws scfm::Error and leaves nothing at `out` (see writer.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/tenx.h"
#include "scfm/io/vocab.h"
#include "scfm/store/manifest.h"

namespace scfm::store {

struct IngestOptions {
  std::string gene_col;                  // var column with gene names; "" = the var index
  std::string layer;                     // .h5ad layer to read instead of X ("" = X)
  std::vector<std::string> obs_columns;  // extra obs columns to keep (cell_type, batch, ...)
  std::vector<std::string> dataset_names;  // one per input; empty = from the file names
  int64_t shard_cells = 100000;
  int64_t block_rows = 4096;             // .h5ad rows read at a time
  bool allow_missing_obs = false;
  bool overwrite = false;                // replace an existing store at `out`
  io::TenxOptions tenx;                  // 10x inputs: feature type, genome, prefix
};

struct IngestInputReport {
  std::string path;
  std::string dataset;
  int64_t n_cells_read = 0;
  int64_t n_cells_kept = 0;
  int64_t n_cells_all_zero = 0;
  int64_t n_genes = 0;
  int64_t n_genes_matched = 0;
  int64_t n_genes_dropped = 0;
  int64_t n_genes_merged = 0;  // var genes whose vocab id an earlier var gene already had
  std::vector<std::string> genes_dropped_examples;
};

struct IngestReport {
  std::string out;
  Manifest manifest;  // as written
  std::vector<IngestInputReport> inputs;
  int64_t n_cells_read = 0;
  int64_t n_cells_all_zero = 0;
  int64_t n_genes_dropped = 0;  // summed over inputs
};

IngestReport ingest(const std::vector<std::string>& inputs, const io::Vocab& vocab, const std::string& out,
                    const IngestOptions& options = {});

}  // namespace scfm::store
