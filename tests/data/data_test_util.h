// Shared by tests/data: a cell store of pbmc_small (made once per test binary with store::ingest and
// a vocabulary built from its genes), and parsing of numpy_reference.py's output.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scfm/data/batch.h"
#include "scfm/io/vocab.h"
#include "scfm/store/reader.h"

namespace scfm::data::testing {

struct PbmcStore {
  io::Vocab vocab;
  store::CellStore store;
};
// pbmc_small.h5ad (80 cells x 230 genes) ingested with obs columns groups and RNA_snn_res_1.
const PbmcStore& pbmc_store();

// The store's rows as CellInputs (pointers into the store).
std::vector<CellInput> store_inputs(const store::CellStore& store, const std::vector<int64_t>& cells);

// numpy_reference.py output: name -> flattened values.
std::map<std::string, std::vector<double>> run_numpy_reference(const std::string& args);

// Tokenizer/batch options for the pbmc vocab: max_len, <cls>/<pad> ids, pad -2, mask 0.4.
BatchOptions default_options(const io::Vocab& vocab, int64_t max_len);

}  // namespace scfm::data::testing
