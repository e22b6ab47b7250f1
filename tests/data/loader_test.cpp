// The loader: batches in sampler order for any thread count, the same per-cell tokens for any
// batch size, worker errors rethrown, clean shutdown mid-epoch.
#include "scfm/data/torch/loader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <stdexcept>

#include "data_test_util.h"
#include "scfm/data/sampler.h"
#include "scfm/util/error.h"

namespace scfm::data {
namespace {

using testing::default_options;
using testing::pbmc_store;

LoaderOptions loader_options(int64_t batch_size, int threads) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.num_threads = threads;
  o.prefetch = 3;
  o.batch = default_options(pbmc_store().vocab, 48);
  o.batch.pad_to_max_len = true;
  return o;
}

std::vector<TensorBatch> drain(Loader& l) {
  std::vector<TensorBatch> out;
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

// Per-cell rows (genes, masked values, mask) of a list of batches, keyed by cell.
struct CellTokens {
  std::vector<int64_t> genes;
  std::vector<float> values, masked;
  std::vector<bool> pad, mask;
};
std::map<int64_t, CellTokens> per_cell(const std::vector<TensorBatch>& batches) {
  std::map<int64_t, CellTokens> m;
  for (const auto& b : batches) {
    const int64_t B = b.genes.size(0), T = b.genes.size(1);
    for (int64_t r = 0; r < B; ++r) {
      CellTokens c;
      for (int64_t t = 0; t < T; ++t) {
        c.genes.push_back(b.genes[r][t].item<int64_t>());
        c.values.push_back(b.values[r][t].item<float>());
        c.masked.push_back(b.masked_values[r][t].item<float>());
        c.pad.push_back(b.key_padding_mask[r][t].item<bool>());
        c.mask.push_back(b.mask_positions[r][t].item<bool>());
      }
      m[b.cells[r].item<int64_t>()] = c;
    }
  }
  return m;
}

TEST(Loader, BatchesFollowSamplerOrderWithTypesAndShapes) {
  const auto& p = pbmc_store();
  SamplerOptions so;
  so.seed = 2;
  const auto idx = Sampler(p.store.n_cells(), so).indices(0);
  Loader l(p.store, idx, 0, loader_options(16, 2));
  EXPECT_EQ(l.n_batches(), 5);
  const auto batches = drain(l);
  ASSERT_EQ(batches.size(), 5u);
  size_t k = 0;
  for (const auto& b : batches) {
    EXPECT_EQ(b.genes.scalar_type(), at::kLong);
    EXPECT_EQ(b.values.scalar_type(), at::kFloat);
    EXPECT_EQ(b.masked_values.scalar_type(), at::kFloat);
    EXPECT_EQ(b.key_padding_mask.scalar_type(), at::kBool);
    EXPECT_EQ(b.mask_positions.scalar_type(), at::kBool);
    EXPECT_EQ(b.cells.scalar_type(), at::kLong);
    EXPECT_EQ(b.genes.size(1), 48);
    for (int64_t r = 0; r < b.cells.size(0); ++r) EXPECT_EQ(b.cells[r].item<int64_t>(), idx[k++]);
  }
  EXPECT_EQ(k, idx.size());
  EXPECT_FALSE(l.next().has_value());
}

TEST(Loader, SameBatchesForOneAndTwoThreads) {
  const auto& p = pbmc_store();
  SamplerOptions so;
  so.seed = 8;
  const auto idx = Sampler(p.store.n_cells(), so).indices(4);
  Loader l1(p.store, idx, 4, loader_options(8, 1));
  Loader l2(p.store, idx, 4, loader_options(8, 2));
  const auto a = drain(l1), b = drain(l2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a[i].genes.equal(b[i].genes)) << "batch " << i;
    EXPECT_TRUE(a[i].values.equal(b[i].values));
    EXPECT_TRUE(a[i].masked_values.equal(b[i].masked_values));
    EXPECT_TRUE(a[i].key_padding_mask.equal(b[i].key_padding_mask));
    EXPECT_TRUE(a[i].mask_positions.equal(b[i].mask_positions));
    EXPECT_TRUE(a[i].cells.equal(b[i].cells));
  }
}

TEST(Loader, SameCellTokensForBatchSize16And32) {
  const auto& p = pbmc_store();
  SamplerOptions so;
  so.seed = 8;
  const auto idx = Sampler(p.store.n_cells(), so).indices(1);
  Loader l16(p.store, idx, 1, loader_options(16, 2));
  Loader l32(p.store, idx, 1, loader_options(32, 2));
  const auto a = per_cell(drain(l16)), b = per_cell(drain(l32));
  ASSERT_EQ(a.size(), static_cast<size_t>(p.store.n_cells()));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) {
    const CellTokens& x = kv.second;
    const CellTokens& y = b.at(kv.first);
    EXPECT_EQ(x.genes, y.genes) << "cell " << kv.first;
    EXPECT_EQ(x.values, y.values);
    EXPECT_EQ(x.masked, y.masked);
    EXPECT_EQ(x.pad, y.pad);
    EXPECT_EQ(x.mask, y.mask);
  }
}

TEST(Loader, WorkerErrorIsRethrownInOrder) {
  const auto& p = pbmc_store();
  std::vector<int64_t> idx(p.store.n_cells());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  LoaderOptions o = loader_options(10, 2);
  o.transform = [](const CellInput& c, int64_t, std::vector<float>& v) {
    if (c.cell == 35) throw std::runtime_error("bad cell 35");
    for (auto& x : v) x = x * 2;
  };
  Loader l(p.store, idx, 0, o);
  for (int k = 0; k < 3; ++k) {
    auto b = l.next();
    ASSERT_TRUE(b.has_value()) << "batch " << k;
    // the transform ran: <cls> excepted, values are even
    EXPECT_EQ(std::fmod(b->values[0][1].item<float>(), 2.0f), 0.0f);
  }
  try {
    l.next();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad cell 35");
  }
  EXPECT_THROW(l.next(), std::runtime_error);  // stays failed
}

TEST(Loader, ShutdownMidEpochAndBadOptions) {
  const auto& p = pbmc_store();
  std::vector<int64_t> idx(p.store.n_cells());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  for (int rep = 0; rep < 20; ++rep) {
    Loader l(p.store, idx, 0, loader_options(4, 2));
    ASSERT_TRUE(l.next().has_value());
  }  // destroyed with batches pending: joins without hanging
  { Loader never_read(p.store, idx, 0, loader_options(4, 2)); }
  LoaderOptions bad = loader_options(0, 2);
  EXPECT_THROW(Loader(p.store, idx, 0, bad), Error);
  EXPECT_THROW(Loader(p.store, {p.store.n_cells()}, 0, loader_options(4, 1)), Error);
  LoaderOptions drop = loader_options(32, 1);
  drop.drop_last = true;
  Loader l(p.store, idx, 0, drop);
  EXPECT_EQ(l.n_batches(), 2);
}

}  // namespace
}  // namespace scfm::data
