// Writing simulated cells: an .h5ad streamed in blocks, or a cell store.
//
// Both outputs hold the ground truth: per cell its cell_type, batch, perturbation ("control" or
// the target gene) and drawn library size; the design (fitted parameters, batch effects,
// perturbation programs) goes to uns["simulate"] (.h5ad) or the manifest's "ingest" entry (store;
// scalars and programs only - the per-gene arrays are left out there).
//
// Memory: one block of cells per thread plus the per-cell labels (O(n_cells) small structs and,
// for .h5ad, the obs names); never the whole matrix. Cells are generated `threads` blocks at a
// time and written in cell order, so the output is identical for every block size and thread
// count (simulate.h keys each cell by (seed, index)).
//
// Failure: a throw leaves nothing at `path` (temporary file/folder, then rename).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/sim/simulate.h"

namespace scfm::sim {

struct WriteOptions {
  int64_t block_cells = 4096;
  int threads = 1;
  int64_t shard_cells = 100000;  // store only
  bool overwrite = false;        // store only (an .h5ad is always replaced)
  nlohmann::ordered_json provenance;  // recorded as is (reference path, label column, ...)
};

// uns["simulate"]: options, provenance, cell type names/proportions/library parameters, per-type
// per-gene rel_mean/dispersion/dropout (types x genes float32), batch effects (batches x genes),
// and perturbations/{targets, knockdown, program_genes (targets x size, gene index), program_log_fc}.
io::Node design_uns(const SimDesign& design, const nlohmann::ordered_json& provenance);

// An .h5ad: X = CSR float32 counts, obs = cell_type, batch, perturbation (categoricals),
// library_size; var index = the reference's genes.
void write_simulated_h5ad(const SimDesign& design, const std::string& path, const WriteOptions& options = {});

// A cell store with obs columns dataset ("simulated"), barcode, cell_type, batch, perturbation.
// Genes map to vocabulary ids by name; genes absent from the vocabulary are dropped (and counted
// in the manifest). Returns the number of cells written (cells left with no count are dropped).
int64_t write_simulated_store(const SimDesign& design, const io::Vocab& vocab, const std::string& path,
                              const WriteOptions& options = {});

}  // namespace scfm::sim
