#include "scfm/data/sampler.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "scfm/data/random.h"
#include "scfm/store/reader.h"
#include "scfm/util/error.h"

namespace scfm::data {

Sampler::Sampler(int64_t n_cells, SamplerOptions options, std::vector<std::string> labels,
                 std::vector<int64_t> lengths)
    : n_(n_cells), options_(options), lengths_(std::move(lengths)) {
  const SamplerOptions& o = options_;
  if (n_ < 0) throw Error("sampler: n_cells must be >= 0");
  if (o.world_size < 1) throw Error("sampler: world_size must be >= 1, got " + std::to_string(o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw Error("sampler: rank " + std::to_string(o.rank) + " is outside [0, " + std::to_string(o.world_size) + ")");
  if (o.balance_classes) {
    if (static_cast<int64_t>(labels.size()) != n_)
      throw Error("sampler: balance_classes needs one label per cell: " + std::to_string(labels.size()) + " labels for " +
                  std::to_string(n_) + " cells");
    std::map<std::string, std::vector<int64_t>> by;  // sorted by label: deterministic class order
    for (int64_t i = 0; i < n_; ++i)
      if (!labels[i].empty()) by[labels[i]].push_back(i);
    if (by.empty() && n_ > 0) throw Error("sampler: balance_classes: every label is empty");
    for (auto& kv : by) classes_.push_back(std::move(kv.second));
  }
  if (o.bucket_batch_size < 0) throw Error("sampler: bucket_batch_size must be >= 0");
  if (o.bucket_batch_size > 0) {
    if (o.bucket_window < 1) throw Error("sampler: bucket_window must be >= 1");
    if (static_cast<int64_t>(lengths_.size()) != n_)
      throw Error("sampler: length bucketing needs one length per cell: " + std::to_string(lengths_.size()) +
                  " for " + std::to_string(n_) + " cells");
  }
}

Sampler Sampler::for_store(const store::CellStore& store, SamplerOptions options, const std::string& balance_column) {
  const int64_t n = store.n_cells();
  std::vector<std::string> labels;
  if (!balance_column.empty()) {
    const int col = store.obs_column_index(balance_column);
    if (col < 0) {
      std::string have;
      for (const auto& c : store.obs_columns()) have += (have.empty() ? "" : ", ") + c;
      throw Error(store.path() + ": obs column '" + balance_column + "' not found; the store has: " + have);
    }
    labels.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) labels.emplace_back(store.obs(col, i));
    options.balance_classes = true;
  }
  std::vector<int64_t> lengths;
  if (options.bucket_batch_size > 0) {
    lengths.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) lengths[i] = store.row(i).n;
  }
  return Sampler(n, options, std::move(labels), std::move(lengths));
}

int64_t Sampler::epoch_size() const {
  const int64_t w = options_.world_size;
  if (options_.drop_last) return n_ / w;
  return (n_ + w - 1) / w;
}

int64_t Sampler::total_size() const { return epoch_size() * options_.world_size; }

std::vector<int64_t> Sampler::global_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(n_));
  const SamplerOptions& o = options_;
  if (o.balance_classes) {
    const uint64_t n_classes = classes_.size();
    for (int64_t i = 0; i < n_; ++i) {
      KeyedRandom rs(o.seed, epoch, i, RandomPurpose::balance);
      const auto& members = classes_[rs.below(n_classes)];
      order[i] = members[rs.below(members.size())];
    }
    return order;
  }
  std::iota(order.begin(), order.end(), 0);
  if (o.shuffle) {
    KeyedRandom rs(o.seed, epoch, -1, RandomPurpose::shuffle);
    for (int64_t i = n_ - 1; i >= 1; --i) std::swap(order[i], order[rs.below(static_cast<uint64_t>(i + 1))]);
  }
  return order;
}

std::vector<int64_t> Sampler::indices(int64_t epoch) const {
  const SamplerOptions& o = options_;
  std::vector<int64_t> global = global_order(epoch);
  const int64_t total = total_size();
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(epoch_size()));
  for (int64_t p = o.rank; p < total; p += o.world_size) mine.push_back(global[p % n_]);  // wrap padding
  if (o.bucket_batch_size > 0) {
    const int64_t window = o.bucket_batch_size * o.bucket_window;
    const int64_t m = static_cast<int64_t>(mine.size());
    for (int64_t w0 = 0, wi = 0; w0 < m; w0 += window, ++wi) {
      const int64_t w1 = std::min(m, w0 + window);
      std::stable_sort(mine.begin() + w0, mine.begin() + w1,
                       [&](int64_t a, int64_t b) { return lengths_[a] > lengths_[b]; });
      // Full batches are shuffled; a short last batch (only in the last window) stays last so
      // that the loader's batches of bucket_batch_size line up with the buckets.
      const int64_t nb = (w1 - w0 + o.bucket_batch_size - 1) / o.bucket_batch_size;
      const int64_t n_full = (w1 - w0) / o.bucket_batch_size;
      std::vector<int64_t> perm(static_cast<size_t>(nb));
      std::iota(perm.begin(), perm.end(), 0);
      KeyedRandom rs(o.seed, epoch, o.rank * (int64_t{1} << 32) + wi, RandomPurpose::bucket);
      for (int64_t i = n_full - 1; i >= 1; --i) std::swap(perm[i], perm[rs.below(static_cast<uint64_t>(i + 1))]);
      std::vector<int64_t> out;
      out.reserve(static_cast<size_t>(w1 - w0));
      for (int64_t bi : perm) {
        const int64_t b0 = w0 + bi * o.bucket_batch_size, b1 = std::min(w1, b0 + o.bucket_batch_size);
        out.insert(out.end(), mine.begin() + b0, mine.begin() + b1);
      }
      std::copy(out.begin(), out.end(), mine.begin() + w0);
    }
  }
  return mine;
}

}  // namespace scfm::data
