// The genes both `scfm grn` verbs work on: --genes (names; all must be in the model's vocabulary,
// and in --in when one is given), or the genes of --in matched to the vocabulary (--hvg N: the N
// most variable of them, scanpy's seurat_v3 on the counts). Missing genes are listed together in
// one error, before any model runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/h5ad.h"
#include "scfm/io/sparse.h"
#include "scfm/io/vocab.h"

namespace scfm::tasks {

struct GrnGeneRequest {
  const char* verb = "grn";          // names the verb in errors
  std::string vocab_path;            // named in errors
  std::vector<std::string> genes;    // --genes (empty: from the file)
  const io::AnnData* data = nullptr; // --in, or null
  std::string input;                 // its path, named in errors
  std::string gene_col, layer;
  int64_t hvg = 0;
  bool keep_matrix = false;          // also return the file's whole matrix (GrnGenes::matrix)
};

struct GrnGenes {
  std::vector<std::string> names;  // in --genes order, or the file's
  std::vector<int32_t> ids;        // vocabulary ids
  std::vector<int32_t> columns;    // var columns of --in (empty without it)
  io::CsrMatrix counts;            // cells x the selected genes (without --in: empty)
  io::CsrMatrix matrix;            // cells x all genes of the file, with keep_matrix (else empty)
  std::vector<int32_t> var_to_id;  // the file's genes matched to the vocabulary (io::match_genes)
  std::string source;              // how they were chosen, for the settings
};

GrnGenes select_grn_genes(const io::Vocab& vocab, const GrnGeneRequest& request);

// The columns `keep` of m, in that order.
io::CsrMatrix select_columns(const io::CsrMatrix& m, const std::vector<int32_t>& keep);

// "a, b, c, ... (N in all)" with at most `most` names.
std::string joined(const std::vector<std::string>& names, size_t most);

}  // namespace scfm::tasks
