// Checking a cell store byte for byte against its manifest (scfm store verify).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::store {

struct StoreProblem {
  int64_t shard = -1;   // index in the manifest, -1 for the store as a whole
  std::string file;     // the shard's file name ("" for the store)
  int64_t offset = -1;  // byte offset in the file where known, else -1
  std::string what;     // one line: what was expected, what was found
};

struct VerifyReport {
  int64_t n_shards = 0;
  int64_t bytes_checked = 0;
  std::vector<StoreProblem> problems;
  bool ok() const { return problems.empty(); }
};

// Reads every shard: size, CRC-32 of every 64 KiB block (a mismatching block is reported with
// its byte range and, when a single changed byte explains it, that byte's offset), the whole-file
// CRC-32, then the content of shards whose checksums match: header against the manifest, indptr
// monotone from 0 to nnz, ids strictly ascending within rows and below the vocab size, no zero
// values, obs offsets monotone, and the store's vocab.json checksum against the manifest's.
// Throws scfm::Error only when the manifest itself cannot be read; everything else is a problem.
VerifyReport verify_store(const std::string& path);

}  // namespace scfm::store
