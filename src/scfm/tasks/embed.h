// scfm embed: cell embeddings from a pretrained model, written into the .h5ad as obsm[key].
//
// Streaming: the input's X (or a layer) is read in blocks of cells; memory is bounded by the
// block and the model, whatever the number of cells.
//
// Determinism (the default): a cell's tokens do not depend on anything but the cell. When it has
// more matched genes than max_length - 1, the highest-expressed genes are kept (ties: lower
// vocab id first) and sent in vocab-id order; binning (scGPT category/binned models) uses the
// deterministic rule (the middle of tied bins). So an embedding does not depend on batch size,
// block size or threads beyond float rounding. `sample` reproduces scGPT's random gene sampling
// instead, keyed by (seed, cell).
//
// Which vector is a cell's embedding (`pool`):
//   mean   the mean of the encoder's outputs over the cell's gene tokens (<cls> and pads
//          excluded), summed in double in token order; a cell without genes gets zeros
//   cls    the encoder's output at <cls> (scGPT's embed_data, scBenchmark's "cls" readout)
//   model  the model's own cell embedding: its cell_emb_style (scBenchmark's avg-pool averages pads
//          too, so it changes with the batch's padding), or the pooled output of cnn_base, cnn_ours
//          and linear_ours, which have no per-token output (for those, mean and cls are refused)
//   auto   (default) mean where the model has per-token outputs, else model; why: docs/classify.md
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/io/row_source.h"

namespace scfm::tasks {

struct EmbedOptions {
  std::string model_dir;           // run folder or scGPT checkpoint folder
  std::string input, output;       // .h5ad in, .h5ad out (may be the same path)
  std::string key = "X_scfm";      // obsm key
  std::string gene_col;            // var column with the gene names ("" = var index)
  std::string layer;               // matrix to read ("" = X); raw counts expected
  int64_t max_length = 1200;       // tokens per cell, <cls> included
  int64_t batch_size = 64;
  int64_t block_cells = 4096;      // cells read from the file at a time
  std::string pool = "auto";       // auto | mean | cls | model (above)
  bool normalize_l2 = false;       // divide each embedding by its L2 norm (scGPT's embed_data)
  bool sample = false;             // scGPT's random gene sampling instead of the top genes
  uint64_t seed = 0;
  bool allow_partial = false;      // load checkpoints with missing/unexpected keys
};

// The pooling `pool` names for a model with (per_token) or without per-token outputs: "auto"
// resolved, unknown names and mean/cls on pooled backbones refused (scfm::Error).
std::string resolve_pool(const std::string& pool, bool per_token, const std::string& structure);

struct CellEmbedding {
  int64_t n = 0, width = 0;
  std::vector<float> x;     // n x width, row-major
  nlohmann::json summary;   // model, structure, key, pool, ..., genes matched, n_cells, width
  nlohmann::json uns;       // what uns["scfm_embed_<key>"] holds (tasks/uns.h)
};

// The embedding of every row of `cells`, whose columns are the genes `gene_names` (`source` names
// them in messages: a file, or "adata" from Python). options.input / output are not used.
CellEmbedding embed_cells(const EmbedOptions& options, io::RowSource& cells, const std::vector<std::string>& gene_names,
                          const std::string& source);

// embed_cells on the input's matrix, written into the output as obsm[key] and
// uns["scfm_embed_<key>"]. Returns the summary plus seconds.
nlohmann::json embed(const EmbedOptions& options);

}  // namespace scfm::tasks
