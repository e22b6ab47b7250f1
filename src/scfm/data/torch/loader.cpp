#include "scfm/data/torch/loader.h"

#include <ATen/ops/empty.h>

#include <cstring>

#include "scfm/store/reader.h"
#include "scfm/util/error.h"

namespace scfm::data {

TensorBatch to_tensors(const Batch& b) {
  const int64_t B = b.size(), T = b.seq_len;
  TensorBatch t;
  t.genes = at::empty({B, T}, at::kLong);
  t.values = at::empty({B, T}, at::kFloat);
  t.masked_values = at::empty({B, T}, at::kFloat);
  t.key_padding_mask = at::empty({B, T}, at::kBool);
  t.mask_positions = at::empty({B, T}, at::kBool);
  t.cells = at::empty({B}, at::kLong);
  const size_t n = static_cast<size_t>(B * T);
  if (n > 0) {
    std::memcpy(t.genes.data_ptr<int64_t>(), b.genes.data(), n * sizeof(int64_t));
    std::memcpy(t.values.data_ptr<float>(), b.values.data(), n * sizeof(float));
    std::memcpy(t.masked_values.data_ptr<float>(), b.masked_values.data(), n * sizeof(float));
    bool* kp = t.key_padding_mask.data_ptr<bool>();
    bool* mp = t.mask_positions.data_ptr<bool>();
    for (size_t i = 0; i < n; ++i) {
      kp[i] = b.key_padding_mask[i] != 0;
      mp[i] = b.mask_positions[i] != 0;
    }
  }
  if (B > 0) std::memcpy(t.cells.data_ptr<int64_t>(), b.cells.data(), static_cast<size_t>(B) * sizeof(int64_t));
  return t;
}

Loader::Loader(const store::CellStore& store, std::vector<int64_t> indices, int64_t epoch, LoaderOptions options)
    : store_(store), indices_(std::move(indices)), epoch_(epoch), options_(std::move(options)) {
  if (options_.batch_size < 1) throw Error("loader: batch_size must be >= 1, got " + std::to_string(options_.batch_size));
  if (options_.num_threads < 1) throw Error("loader: num_threads must be >= 1, got " + std::to_string(options_.num_threads));
  if (options_.prefetch < 1) throw Error("loader: prefetch must be >= 1, got " + std::to_string(options_.prefetch));
  validate(options_.batch);
  const int64_t n = static_cast<int64_t>(indices_.size());
  for (int64_t i : indices_)
    if (i < 0 || i >= store_.n_cells())
      throw Error("loader: cell index " + std::to_string(i) + " is outside the store's [0, " +
                  std::to_string(store_.n_cells()) + ")");
  n_batches_ = options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
  workers_.reserve(static_cast<size_t>(options_.num_threads));
  for (int t = 0; t < options_.num_threads; ++t) workers_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  space_cv_.notify_all();
  ready_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

Batch Loader::build(int64_t k) const {
  const int64_t bs = options_.batch_size;
  const int64_t begin = k * bs;
  const int64_t end = std::min<int64_t>(begin + bs, static_cast<int64_t>(indices_.size()));
  std::vector<CellInput> cells;
  cells.reserve(static_cast<size_t>(end - begin));
  std::vector<std::vector<float>> transformed;
  if (options_.transform) transformed.resize(static_cast<size_t>(end - begin));
  for (int64_t p = begin; p < end; ++p) {
    const store::CellRow row = store_.row(indices_[p]);
    CellInput in{indices_[p], row.ids, row.values, row.n};
    if (options_.transform) {
      auto& v = transformed[p - begin];
      v.assign(row.values, row.values + row.n);
      options_.transform(in, epoch_, v);
      if (static_cast<int64_t>(v.size()) != row.n)
        throw Error("loader: value transform changed cell " + std::to_string(in.cell) + "'s size from " +
                    std::to_string(row.n) + " to " + std::to_string(v.size()));
      in.values = v.data();
    }
    cells.push_back(in);
  }
  return build_batch(cells, options_.batch, epoch_);
}

void Loader::work() {
  for (;;) {
    int64_t k;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_cv_.wait(lock, [&] { return stop_ || next_claim_ >= n_batches_ || next_claim_ < next_out_ + options_.prefetch; });
      if (stop_ || next_claim_ >= n_batches_) return;
      k = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = to_tensors(build(k));
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      slots_[k] = std::move(slot);
    }
    ready_cv_.notify_all();
  }
}

std::optional<TensorBatch> Loader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (failed_) std::rethrow_exception(failed_);
  if (next_out_ >= n_batches_) return std::nullopt;
  ready_cv_.wait(lock, [&] { return slots_.count(next_out_) > 0; });
  auto it = slots_.find(next_out_);
  Slot slot = std::move(it->second);
  slots_.erase(it);
  if (slot.error) {
    failed_ = slot.error;
    stop_ = true;
    lock.unlock();
    space_cv_.notify_all();
    std::rethrow_exception(failed_);
  }
  ++next_out_;
  lock.unlock();
  space_cv_.notify_all();
  return std::move(slot.batch);
}

}  // namespace scfm::data
