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
//    "ingest": {...}}
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
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
  nlohmann::ordered_json ingest = nlohmann::ordered_json::object();

  nlohmann::ordered_json to_json() const;
  // Parses and checks STORE/manifest.json: every key present with the right type, the version
  // supported, per-shard counts summing to the totals, block counts matching the sizes. A missing
  // manifest is reported as an incomplete store. Throws scfm::FormatError(manifest path, key, what).
  static Manifest load(const std::string& store_dir);
};

}  // namespace scfm::store
