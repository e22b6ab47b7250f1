// Writing a cell store, one cell at a time, with memory bounded by two shards.
//
// The writer works in a temporary folder beside the target, "<path>.tmp.<pid>". Cells are
// buffered until `shard_cells` of them are held, then written as one shard file (format.h) and
// forgotten: memory is O(shard), never O(dataset). A full shard of up to 384 MiB is written (CRC-32s
// computed, bytes handed to the page cache, writeback started) by a second thread while the next
// one fills, so memory is two shard buffers; a larger shard is written before add() returns. The
// shard's file exists when add() returns either way. commit() waits for the last shard, fsyncs
// every shard, writes vocab.json, then manifest.json (itself through a temporary file, fsync and a
// rename), then renames the folder onto `path` (an old store there is swapped out in one step,
// renameat2 RENAME_EXCHANGE, and removed).
//
// What a failure leaves on disk:
//   - a throw, or destruction without commit(): the temporary folder is removed; `path` is
//     untouched. An error while writing a shard in the background is thrown by the next add()
//     that completes a shard, or by commit().
//   - a kill at any moment: at worst "<path>.tmp.<pid>" with some shards and no manifest (or a
//     complete store under the temporary name). Neither is at `path`, and a folder without a
//     manifest never opens (CellStore::open names it incomplete). `path` is either absent, the
//     old store (overwrite), or the complete new store. Shards are durable (fsync) before the
//     manifest that names them is written. The next writer of the same `path` removes the
//     temporary folder a killed one left.
// Not thread-safe (one caller thread; the writer's own thread is internal).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "scfm/io/vocab.h"
#include "scfm/store/manifest.h"

namespace scfm::store {

struct StoreWriterOptions {
  int64_t shard_cells = 100000;  // cells per shard file (the last one may hold fewer)
  std::string layer;             // recorded in the manifest: which input layer the values are
  // Replace an existing store at `path` at commit(). Without it an existing path is an error
  // (raised by the constructor, before any work).
  bool overwrite = false;
};

class StoreWriter {
 public:
  // `obs_columns`: the names of the string columns every cell carries, in order.
  StoreWriter(const std::string& path, const io::Vocab& vocab, std::vector<std::string> obs_columns,
              const StoreWriterOptions& options = {});
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Appends one cell: `n` entries with ids strictly ascending in [0, vocab size) and values not
  // 0.0f, and one string per obs column. Throws scfm::Error on a violation (the cell is not added).
  void add(const int32_t* ids, const float* values, int64_t n, const std::vector<std::string>& obs);
  // What the values are (manifest "values"); default raw. The writer does not transform anything.
  void set_values(const StoredValues& values);
  // Stored in the manifest under "ingest" (how the store was made).
  void set_ingest_info(nlohmann::ordered_json info);
  // Flushes the last shard, writes the manifest and moves the folder to `path`.
  // Returns the manifest written.
  const Manifest& commit();

  int64_t n_cells() const;
  const std::string& temp_path() const;

 private:
  const Manifest& commit_files();  // commit() without the error's context
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::store
