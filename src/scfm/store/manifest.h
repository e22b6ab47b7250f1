// The manifest of a cell store: STORE/manifest.json, the last file an ingest writes.
//
// It holds what opening a store needs without touching a cell: the format version, the
// vocabulary (checksum and size), the obs column names, and per shard its file name, cell count,
// nnz, size in bytes and CRC-32s (whole file and per 64 KiB block). Whatever the producer adds
// about how the store was made (genes dropped, cells dropped, inputs) sits under "ingest" and is
// kept as read. Example (abridged):
//
//   {"format": "scfm-cell-store", "format_version": 1, "vocab_checksum": "…", "vocab_size": 8677,
//    "layer": "", "obs_columns": ["dataset", "barcode", "cell_type"], "n_cells": 160, "nnz": 1234,
//    "checksum_algorithm": "crc32", "block_size": 65536,
//    "shards": [{"file": "shard_00000.bin", "n_cells": 160, "nnz": 1234, "bytes": 20480,
//                "crc32": 305419896, "block_crc32": [305419896]}],
//    "values": {"normalize_total": 10000.0, "log1p": true, "binning": null},
//    "ingest": {...}}
//
// "values" says what the stored values are (StoredValues): absent (stores written before it
// existed) or all null/false = the input's values as read (raw counts from X or a counts layer).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scfm::store {

struct ShardInfo {
  std::string file;  // relative to the store folder
  int64_t n_cells = 0;
  int64_t nnz = 0;
  int64_t bytes = 0;
  uint32_t crc32 = 0;
  std::vector<uint32_t> block_crc32;  // one per block_size bytes; the last block may be shorter
};

// The value transform ingest applied to every cell, in this order (scanpy / scGPT semantics, see
// pp/normalize.h and pp/binning.h): normalize_total over the cell's stored genes (those in the
// vocabulary), log1p, then scGPT's binning. Manifest key "values".
struct StoredValues {
  std::optional<double> normalize_total;  // the target total; unset = not normalised
  bool log1p = false;
  int n_bins = 0;                 // 0 = not binned; else values are bins 1..n_bins-1
  // with n_bins, pp::BinningMode: "keyed" (u keyed by seed, store cell index, gene id), "seeded"
  // (numpy's stream over the store's rows in order, as scGPT) or "deterministic" (u = 1/2)
  std::string bin_mode;
  uint64_t bin_seed = 0;          // keyed / seeded modes' seed

  bool raw() const { return !normalize_total && !log1p && n_bins == 0; }
  // "raw (as read)", or e.g. "normalize_total 10000, log1p, binned (51 bins, keyed, seed 0)".
  std::string describe() const;
  nlohmann::ordered_json to_json() const;
  // Throws scfm::FormatError(file, "values.<key>", what) on a malformed entry.
  static StoredValues from_json(const nlohmann::ordered_json& j, const std::string& file);
};

struct Manifest {
  int64_t format_version = 0;
  std::string vocab_checksum;
  int64_t vocab_size = 0;
  std::string layer;  // the input layer the values came from ("" = X)
  std::vector<std::string> obs_columns;
  int64_t block_size = 0;
  int64_t n_cells = 0;
  int64_t nnz = 0;
  std::vector<ShardInfo> shards;
  StoredValues values;  // raw unless ingest transformed the values
  nlohmann::ordered_json ingest = nlohmann::ordered_json::object();

  nlohmann::ordered_json to_json() const;
  // Parses and checks STORE/manifest.json: every key present with the right type, the version
  // supported, per-shard counts summing to the totals, block counts matching the sizes. A missing
  // manifest is reported as an incomplete store. Throws scfm::FormatError(manifest path, key, what).
  static Manifest load(const std::string& store_dir);
  // The same checks on a manifest's text (file names it in errors); the fuzz harness's entry point.
  static Manifest parse(std::string_view text, const std::string& file);
};

}  // namespace scfm::store
