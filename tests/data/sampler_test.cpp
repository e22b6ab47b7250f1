// Samplers: the distributed split (coverage, equal counts, disjoint ranks but for the wrap
// padding, determinism), set_epoch, class balancing and length bucketing.
#include "scfm/data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data_test_util.h"
#include "scfm/util/error.h"

namespace scfm::data {
namespace {

TEST(Sampler, DistributedSplitCoversEpochWithEqualDisjointRanks) {
  for (int64_t n : {1, 7, 80, 83, 100}) {
    for (int64_t world : {1, 2, 3, 4, 8}) {
      for (bool shuffle : {true, false}) {
        SamplerOptions o;
        o.world_size = world;
        o.shuffle = shuffle;
        o.seed = 11;
        const int64_t total = (n + world - 1) / world * world;
        std::map<int64_t, int64_t> count;
        for (int64_t r = 0; r < world; ++r) {
          o.rank = r;
          Sampler s(n, o);
          const auto idx = s.indices(5);
          ASSERT_EQ(static_cast<int64_t>(idx.size()), total / world) << "n " << n << " world " << world;
          ASSERT_EQ(s.indices(5), idx) << "not deterministic";
          for (int64_t i : idx) {
            ASSERT_TRUE(i >= 0 && i < n);
            count[i]++;
          }
        }
        ASSERT_EQ(static_cast<int64_t>(count.size()), n) << "not every cell visited";
        int64_t repeats = 0;
        for (auto& kv : count) repeats += kv.second - 1;
        ASSERT_EQ(repeats, total - n) << "ranks overlap beyond the wrap padding";
      }
    }
  }
}

TEST(Sampler, RankListsAreStridesOfTheGlobalOrder) {
  SamplerOptions o;
  o.world_size = 3;
  o.seed = 4;
  Sampler s0(10, o);
  const auto global = s0.global_order(2);
  for (int64_t r = 0; r < 3; ++r) {
    o.rank = r;
    const auto idx = Sampler(10, o).indices(2);
    for (size_t k = 0; k < idx.size(); ++k) EXPECT_EQ(idx[k], global[(r + 3 * k) % 10]);
  }
}

TEST(Sampler, DropLastCutsInsteadOfWrapping) {
  SamplerOptions o;
  o.world_size = 4;
  o.drop_last = true;
  std::set<int64_t> all;
  for (int64_t r = 0; r < 4; ++r) {
    o.rank = r;
    const auto idx = Sampler(83, o).indices(0);
    ASSERT_EQ(idx.size(), 20u);
    for (int64_t i : idx) ASSERT_TRUE(all.insert(i).second);
  }
}

TEST(Sampler, SetEpochChangesOrderSameSeedSameOrder) {
  SamplerOptions o;
  o.seed = 3;
  Sampler s(500, o);
  s.set_epoch(0);
  const auto e0 = s.indices();
  s.set_epoch(1);
  const auto e1 = s.indices();
  EXPECT_NE(e0, e1);
  auto a = e0, b = e1;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  EXPECT_EQ(a, b);
  EXPECT_EQ(Sampler(500, o).indices(1), e1);
  o.seed = 4;
  EXPECT_NE(Sampler(500, o).indices(1), e1);
  o.shuffle = false;
  const auto plain = Sampler(500, o).indices(7);
  for (int64_t i = 0; i < 500; ++i) EXPECT_EQ(plain[i], i);
}

TEST(Sampler, BalancedClassesDrawsClassesEqually) {
  std::vector<std::string> labels;
  for (int i = 0; i < 900; ++i) labels.push_back("big");
  for (int i = 0; i < 100; ++i) labels.push_back("small");
  for (int i = 0; i < 20; ++i) labels.push_back("");  // never drawn
  SamplerOptions o;
  o.balance_classes = true;
  Sampler s(1020, o, labels);
  int64_t small = 0, n = 0;
  for (int64_t e = 0; e < 10; ++e) {
    for (int64_t i : s.indices(e)) {
      ASSERT_FALSE(labels[i].empty());
      small += labels[i] == "small";
      ++n;
    }
  }
  EXPECT_NEAR(static_cast<double>(small) / n, 0.5, 5 * std::sqrt(0.25 / n));
  EXPECT_NE(s.indices(0), s.indices(1));
  EXPECT_THROW(Sampler(3, o, {"a"}), Error);
}

TEST(Sampler, ForStoreBalancesAnObsColumn) {
  const auto& p = testing::pbmc_store();
  Sampler s = Sampler::for_store(p.store, SamplerOptions{}, "RNA_snn_res_1");
  EXPECT_EQ(s.epoch_size(), p.store.n_cells());
  std::map<std::string, int64_t> per_class_cells, per_class_draws;
  for (int64_t i = 0; i < p.store.n_cells(); ++i) per_class_cells[std::string(p.store.obs("RNA_snn_res_1", i))]++;
  ASSERT_GE(per_class_cells.size(), 2u);
  int64_t n = 0;
  for (int64_t e = 0; e < 50; ++e)
    for (int64_t i : s.indices(e)) {
      per_class_draws[std::string(p.store.obs("RNA_snn_res_1", i))]++;
      ++n;
    }
  const double k = static_cast<double>(per_class_cells.size()), pr = 1.0 / k;
  for (auto& kv : per_class_draws) EXPECT_NEAR(kv.second, n * pr, 5 * std::sqrt(n * pr * (1 - pr))) << kv.first;
  EXPECT_THROW(Sampler::for_store(p.store, SamplerOptions{}, "no_such_column"), Error);
}

// Bucketing keeps each rank's cells, keeps batches aligned, and cuts the padding of batches.
TEST(Sampler, LengthBucketingCutsPadding) {
  const auto& p = testing::pbmc_store();
  const int64_t bs = 8;
  SamplerOptions o;
  o.seed = 1;
  o.world_size = 2;
  o.rank = 1;
  Sampler plain = Sampler::for_store(p.store, o);
  o.bucket_batch_size = bs;
  o.bucket_window = 3;
  Sampler bucketed = Sampler::for_store(p.store, o);
  auto padding = [&](const std::vector<int64_t>& idx) {
    int64_t pad = 0;
    for (size_t b0 = 0; b0 < idx.size(); b0 += bs) {
      const size_t b1 = std::min(idx.size(), b0 + bs);
      int64_t longest = 0;
      for (size_t k = b0; k < b1; ++k) longest = std::max(longest, p.store.row(idx[k]).n);
      for (size_t k = b0; k < b1; ++k) pad += longest - p.store.row(idx[k]).n;
    }
    return pad;
  };
  for (int64_t e = 0; e < 3; ++e) {
    auto a = plain.indices(e), b = bucketed.indices(e);
    EXPECT_LT(padding(b), padding(a)) << "epoch " << e;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
  }
  EXPECT_NE(bucketed.indices(0), bucketed.indices(1));
}

TEST(Sampler, RejectsBadOptions) {
  SamplerOptions o;
  o.world_size = 2;
  o.rank = 2;
  EXPECT_THROW(Sampler(10, o), Error);
  o.rank = 0;
  o.bucket_batch_size = 4;
  EXPECT_THROW(Sampler(10, o), Error);  // no lengths
}

}  // namespace
}  // namespace scfm::data
