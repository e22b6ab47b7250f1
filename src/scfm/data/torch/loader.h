// LibTorch-facing part of data/ (target scfm); the rest of data/ builds without LibTorch (scfm_base).
// The loader: worker threads turn one epoch's cells (a Sampler's indices) into padded, masked
// LibTorch batches, delivered in order through a bounded queue.
//
// Split of work (tatami's parallelize contract): the epoch's index list is cut into consecutive
// batches of batch_size (the last one shorter unless drop_last); batch k holds indices
// [k * batch_size, (k + 1) * batch_size). Batches never overlap, cover the list, and the cut
// depends only on the list and batch_size. Workers claim batches in increasing order; next()
// returns them in that order whatever the thread count, so the stream of batches is identical for
// 1 or N threads. Each cell's tokens and mask are keyed by (seed, epoch, cell) (batch.h), so they
// are also the same for any batch size.
//
// Bounded memory: at most `prefetch` batches are built ahead of the consumer.
// Errors: an exception in a worker (a store read, a transform, tokenizing) is rethrown by next()
// when the consumer reaches that batch; the loader then stops (later next() calls rethrow it too).
// Shutdown: the destructor stops the workers and joins them, also mid-epoch; batches already
// returned stay valid (they own their memory).
// Thread safety: next() is for one consumer thread. The store must outlive the loader.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "scfm/data/batch.h"

namespace scfm::store {
class CellStore;
}

namespace scfm::data {

// Rewrites a cell's values before tokenizing (e.g. binning; see pp/). `values` holds the row's
// values on entry (cell.n of them) and must keep that size. Called from worker threads, at the same
// time for different cells: it must be thread-safe. Draw randomness from
// KeyedRandom(seed, epoch, cell.cell, RandomPurpose::value) to stay thread-count independent.
using ValueTransform = std::function<void(const CellInput& cell, int64_t epoch, std::vector<float>& values)>;

struct LoaderOptions {
  int64_t batch_size = 32;   // scGPT/scBenchmark --batch_size
  int num_threads = 2;       // worker threads (>= 1)
  int64_t prefetch = 4;      // batches built ahead of the consumer (>= 1)
  bool drop_last = false;    // drop a short last batch
  BatchOptions batch;        // tokenizer, masking, padding, seed
  ValueTransform transform;  // optional
};

struct TensorBatch {
  at::Tensor genes;             // int64 B x T
  at::Tensor values;            // float32 B x T
  at::Tensor masked_values;     // float32 B x T
  at::Tensor key_padding_mask;  // bool B x T, true = pad
  at::Tensor mask_positions;    // bool B x T, true = masked
  at::Tensor cells;             // int64 B, global cell indices
};

// Converts a torch-free batch (copies).
TensorBatch to_tensors(const Batch& batch);

class Loader {
 public:
  // One epoch over `indices` (e.g. Sampler::indices(epoch)). Starts the workers. Throws
  // scfm::Error on bad options.
  Loader(const store::CellStore& store, std::vector<int64_t> indices, int64_t epoch, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t n_batches() const { return n_batches_; }
  // The next batch in order; std::nullopt after the last. Rethrows a worker's exception.
  std::optional<TensorBatch> next();

 private:
  struct Slot {
    std::optional<TensorBatch> batch;
    std::exception_ptr error;
  };
  void work();
  Batch build(int64_t k) const;

  const store::CellStore& store_;
  std::vector<int64_t> indices_;
  int64_t epoch_;
  LoaderOptions options_;
  int64_t n_batches_ = 0;

  std::mutex mu_;
  std::condition_variable ready_cv_;  // a slot was filled
  std::condition_variable space_cv_;  // the consumer took a batch, or stop
  std::map<int64_t, Slot> slots_;
  int64_t next_claim_ = 0;
  int64_t next_out_ = 0;
  bool stop_ = false;
  std::exception_ptr failed_;
  std::vector<std::thread> workers_;
};

}  // namespace scfm::data
