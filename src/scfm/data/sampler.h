// Which cells an epoch visits, in which order, on which rank (torch's RandomSampler,
// DistributedSampler, a class-balanced sampler and length bucketing in one small class).
//
// The global order of epoch e (length n = n_cells):
//  - shuffle (default): a permutation of [0, n) drawn from KeyedRandom(seed, e, -1, shuffle);
//    shuffle off: 0, 1, ..., n-1.
//  - balance_classes: n draws with replacement; draw i (KeyedRandom(seed, e, i, balance)) picks
//    a class uniformly, then a cell of that class uniformly, so every class is seen about equally
//    often (torch's WeightedRandomSampler with weights 1 / class size). Cells with an empty label
//    ("" in the obs column) are never drawn.
// The rank split (torch DistributedSampler): the global order is padded by wrapping (its first
// entries repeated) to total = ceil(n / world) * world entries (drop_last: cut to
// floor(n / world) * world), and rank r takes positions r, r + world, r + 2 world, ...
// Length bucketing (bucket_batch_size > 0) then reorders each rank's list: windows of
// bucket_batch_size * bucket_window entries are sorted by cell length (descending, ties by
// position), cut into batches of bucket_batch_size, and the batches of a window are shuffled.
//
// Promises (tatami's style): for every epoch all ranks get exactly epoch_size() indices; without
// balance_classes and drop_last, the ranks' lists together hold every cell of [0, n) at least once
// and a cell appears twice only through the wrap padding (total - n entries); ranks never share
// a position of the global order. The split is a pure function of (options, n, epoch): the same
// on every process and thread. Different epochs give different orders (with shuffle or
// balancing). Bucketing only reorders a rank's list; it never changes which cells it holds.
// Not promised: any relation between the orders of two epochs or two seeds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::store {
class CellStore;
}

namespace scfm::data {

struct SamplerOptions {
  bool shuffle = true;            // torch DataLoader shuffle / DistributedSampler shuffle
  uint64_t seed = 0;              // DistributedSampler seed
  int64_t rank = 0;               // this process, in [0, world_size)
  int64_t world_size = 1;
  bool drop_last = false;         // DistributedSampler drop_last: cut instead of wrap
  bool balance_classes = false;   // needs labels (an obs column); ignores shuffle
  int64_t bucket_batch_size = 0;  // > 0: length bucketing for batches of this size (needs lengths)
  int64_t bucket_window = 64;     // batches per bucketing window
};

class Sampler {
 public:
  // labels: one class per cell (empty = no class; needed for balance_classes);
  // lengths: one token count per cell (needed for bucketing). Throws scfm::Error on bad options.
  Sampler(int64_t n_cells, SamplerOptions options, std::vector<std::string> labels = {},
          std::vector<int64_t> lengths = {});
  // Labels from the store's obs column `balance_column` ("" = none) and lengths = row sizes.
  static Sampler for_store(const store::CellStore& store, SamplerOptions options,
                           const std::string& balance_column = "");

  int64_t n_cells() const { return n_; }
  int64_t epoch_size() const;   // indices per rank per epoch
  int64_t total_size() const;   // epoch_size() * world_size
  const SamplerOptions& options() const { return options_; }

  // torch's set_epoch: the epoch indices() uses.
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  std::vector<int64_t> indices() const { return indices(epoch_); }
  // This rank's cells for `epoch`, in visiting order.
  std::vector<int64_t> indices(int64_t epoch) const;
  // The global order of `epoch`, before padding and split (n entries).
  std::vector<int64_t> global_order(int64_t epoch) const;

 private:
  int64_t n_;
  SamplerOptions options_;
  std::vector<std::vector<int64_t>> classes_;  // cells per class (balance_classes)
  std::vector<int64_t> lengths_;
  int64_t epoch_ = 0;
};

}  // namespace scfm::data
