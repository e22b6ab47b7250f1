// 10x Genomics count matrices (Cell Ranger's MEX folders and .h5 files) read into an AnnData.
//
// Every reader returns cells x genes in the layout scanpy's read_10x_mtx / read_10x_h5 give:
//   X    csr_matrix, float32 values, column indices sorted within each row
//   obs  index = barcodes (index name "_index")
//   var  index = feature names (gene symbols), made unique like anndata's var_names_make_unique
//        ("-1", "-2", ... appended to the second, third, ... occurrence); with
//        gene_symbols = false the index is the feature ids and the names go to `gene_symbols`.
//        Columns: `gene_ids` (the id, when the index holds symbols), `feature_types` (Cell Ranger
//        >= 3 only), `genome` (.h5 only; for Cell Ranger 2 files the genome group's name, which
//        scanpy leaves out). Columns with repeated values are categoricals, as
//        anndata writes them.
//   AnnData::path = the folder or file that was read.
// Only "Gene Expression" features are kept by default (TenxOptions::feature_type); files without
// feature types (Cell Ranger 2) keep every gene.
//
// Errors are scfm::FormatError(file, field, what) where field is "line N" for text files and
// the HDF5 path for .h5 files. Malformed input is never partly accepted: a truncated gzip, a
// MatrixMarket header that is not "coordinate (integer|real) general", an entry outside the
// declared size, fewer or more entries than declared, or feature / barcode counts that disagree
// with the matrix all throw.
#pragma once

#include <string>

#include "scfm/io/h5ad.h"

namespace scfm::io {

struct TenxOptions {
  // Keep only features of this type ("" keeps all). Ignored when the input has no feature types.
  std::string feature_type = "Gene Expression";
  // true: var index = gene symbols (scanpy's var_names='gene_symbols'); false: feature ids.
  bool gene_symbols = true;
  // Make the var index unique ("-1", "-2" suffixes), as scanpy's read_10x_mtx does by default.
  bool make_unique = true;
  // Legacy (Cell Ranger 2) .h5 files hold one group per genome: which one to read
  // ("" = the only one; an error listing them when there are several).
  std::string genome;
  // MEX folders: a prefix of the file names ("GSM123_matrix.mtx.gz", ...), as scanpy's `prefix`.
  std::string prefix;
  // read_any on an .h5ad file passes these to read_h5ad.
  H5adReadOptions h5ad;
};

// A MEX folder: matrix.mtx(.gz) (features x barcodes), features.tsv(.gz) or genes.tsv(.gz),
// barcodes.tsv(.gz). Plain and gzip-compressed files are both accepted.
AnnData read_10x_mtx(const std::string& dir, const TenxOptions& options = {});

// A Cell Ranger .h5 file: v3 (/matrix with /matrix/features) or legacy v2 (/<genome>/...).
AnnData read_10x_h5(const std::string& path, const TenxOptions& options = {});

// True when `path` is a folder holding a 10x matrix (matrix.mtx[.gz] + barcodes + features/genes).
bool is_10x_mtx_dir(const std::string& path, const std::string& prefix = "");
// True when `path` is an HDF5 file with a /matrix group or legacy genome groups and no /obs.
bool is_10x_h5(const std::string& path);

// Reads an .h5ad file, a 10x MEX folder or a 10x .h5 file, whichever `path` is.
AnnData read_any(const std::string& path, const TenxOptions& options = {});

// anndata's make_index_unique(join="-"): the first occurrence keeps its name, later ones get
// "-1", "-2", ... skipping any name already present. Exposed for tests and other readers.
std::vector<std::string> make_names_unique(std::vector<std::string> names);

}  // namespace scfm::io
