// Reading a cell store (writer.h, format.h) by global cell index through memory mappings.
//
// What a row is. Cell i's row is the list of its non-zero genes: `ids[0..n)` are vocabulary ids
// (of the store's vocab.json), strictly ascending, each in [0, vocab_size()); `values[0..n)`
// are float32 values, never 0.0f: a gene not listed is zero. Values are what the input held
// (raw counts when ingested from X or a counts layer; manifest().layer says which), or what
// manifest().values declares ingest made of them (normalised, log1p'd, binned). No cell is
// empty: ingest drops cells without a non-zero entry in the vocabulary's genes, so n >= 1 for
// stores written by ingest. Global index i runs over the shards in order, cells in input order.
//
// Cost. open() reads the manifest and maps each shard, checking its header and size against
// the manifest: O(shards), nothing per cell. row() and obs() are O(log shards) and read only the
// cell's bytes (the page cache decides what stays in memory; the process never holds a copy).
//
// What is not promised. open() checks structure, not content: corrupted bytes inside a section
// are found by verify_store() (verify.h) or, for an offset that points outside its section, by
// row()/obs() throwing scfm::FormatError. A shard file changed while mapped is undefined.
//
// Views returned by row()/obs() point into the mappings and live as long as the CellStore.
// A CellStore is immutable after open(): all const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "scfm/store/manifest.h"

namespace scfm::store {

struct CellRow {
  const int32_t* ids = nullptr;   // n vocabulary ids, strictly ascending
  const float* values = nullptr;  // n non-zero values
  int64_t n = 0;
};

class CellStore {
 public:
  // Opens STORE; throws scfm::Error when it is not a complete store (no manifest: an ingest
  // that did not finish) and scfm::FormatError naming the file and field on any mismatch
  // between the manifest and a shard (missing file, other size, bad header).
  static CellStore open(const std::string& path);

  CellStore(CellStore&&) noexcept;
  CellStore& operator=(CellStore&&) noexcept;
  ~CellStore();

  int64_t n_cells() const;
  int64_t nnz() const;
  int64_t n_shards() const;
  int64_t vocab_size() const;
  const std::string& path() const;
  const Manifest& manifest() const;
  const std::vector<std::string>& obs_columns() const;
  // The column's position in obs_columns(), or -1.
  int obs_column_index(const std::string& column) const;

  // Cell i in [0, n_cells()); throws scfm::Error when out of range.
  CellRow row(int64_t i) const;
  // The string of obs column `column` (by name, or by position) for cell i.
  std::string_view obs(const std::string& column, int64_t i) const;
  std::string_view obs(int column, int64_t i) const;
  // The shard holding cell i, and the first global index of each shard (n_shards() + 1 entries).
  int64_t shard_of(int64_t i) const;
  const std::vector<int64_t>& shard_starts() const;

 private:
  CellStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::store
