// Ingest: .h5ad files, 10x matrices and Parquet cell tables -> a cell store (writer.h), by
// vocabulary gene id.
//
// Parquet inputs (a .parquet file or a folder of them: scBenchmark's rows, scGPT's scBank tables;
// io/parquet_cells.h) already name genes by vocabulary id: `genes` must be ids of the vocabulary
// given, and a row's (id, expression) pairs go through the same mapper as a matrix row (ids
// sorted, duplicates summed, zeros dropped). Their barcode is the `id` column (else the row
// number); obs_columns come from flat columns. Read one row group at a time. scBank folders
// (io/scbank.h: manifest.json, gene_vocab.json, the main_data table in Parquet or JSON lines)
// name genes by ids of their own gene_vocab.json: those are matched to the vocabulary by gene
// name, like an .h5ad's var (unmatched genes dropped and counted).
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
// Values (IngestOptions::values): by default stored as read. With a transform, each kept cell's
// row (its vocabulary genes, after dropping and merging) goes through, in this order,
// pp::normalize_total (scanpy: scaled to `target_sum`; without one, to the median of the totals of
// all kept cells of all inputs, which costs one extra read pass over the inputs), pp::log1p and
// pp::binning (scGPT's bins, keyed by the cell's index in the store, numpy's stream over the store's
// rows in order, or deterministic). Totals are over the genes the store keeps: scGPT filters genes
// to its vocabulary before normalising, and a raw store's cells are normalised the same way at
// training time, so the values equal the trainer's transform of a raw store. The manifest's
// "values" records what was done (manifest.h StoredValues). A value the transform makes 0 is
// dropped (a cell left empty is counted with the all-zero cells).
//
// Speed: the next block (matrix rows and their obs; HDF5 for .h5ad inputs) is read on a second
// thread while the current one is mapped, transformed and handed to the writer; see writer.h for
// how shards are written.
//
// Memory: for .h5ad inputs the matrix and the obs strings (barcodes and obs_columns) are read in
// blocks of `block_rows` cells (io::H5adMatrixReader, io::H5adObsReader) and only var, uns and
// obs's column names are loaded whole; with the writer's shard buffers, memory is O(2 blocks + 2
// shards), never the number of cells (writer.h). 10x inputs (MEX folders, .h5) are read whole into
// memory (io::read_any) - acceptable for single 10x runs, not for atlases.
//
// Failure: any error throws scfm::Error and leaves nothing at `out` (see writer.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scfm/io/parquet_cells.h"
#include "scfm/io/tenx.h"
#include "scfm/io/vocab.h"
#include "scfm/pp/binning.h"
#include "scfm/store/manifest.h"

namespace scfm::store {

// The per-cell value transform of an ingest (see above). Default: none.
struct IngestValues {
  bool normalize_total = false;
  std::optional<double> target_sum;  // with normalize_total; unset = median of the kept cells' totals
  bool log1p = false;
  int n_bins = 0;                    // > 0: scGPT binning into bins 1..n_bins-1 (n_bins >= 3)
  pp::BinningMode bin_mode = pp::BinningMode::Keyed;
  uint64_t bin_seed = 0;             // Keyed / Seeded (Seeded: must fit 32 bits, numpy's seed)
};

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
  IngestValues values;                   // value transform (default: none, values as read)
  io::ParquetCellsOptions parquet;       // Parquet inputs: column names
  std::string from = "auto";             // auto (by the input), anndata (.h5ad / 10x), parquet, scbank
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
  std::optional<double> target_sum;  // the normalize_total target used (given, or the median found)
};

IngestReport ingest(const std::vector<std::string>& inputs, const io::Vocab& vocab, const std::string& out,
                    const IngestOptions& options = {});

// Process-wide: asks glibc's malloc to keep freed memory for reuse (mmap threshold 256 MiB, trim
// threshold 1 GiB) instead of returning each ~30 MB input block to the kernel and faulting fresh
// zeroed pages in for the next one. For programs that mostly ingest (`scfm ingest` calls it):
// ~20% less ingest time on the benchmark machine, ~80 MB more peak RSS. No-op elsewhere.
void reuse_freed_memory();

}  // namespace scfm::store
