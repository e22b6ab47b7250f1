// Tokenizer, masking and batches. The scGPT fixture (tokenize.npz, made by the original
// tokenize_and_pad_batch + random_mask_value) is read through numpy_reference.py, never pasted;
// numpy's RNG is checked against numpy itself. Invariants run on pbmc_small ingested into a store.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data_test_util.h"
#include "scfm/data/batch.h"
#include "scfm/data/masking.h"
#include "scfm/data/random.h"
#include "scfm/data/tokenizer.h"
#include "scfm/util/error.h"
#include "test_util.h"

namespace scfm::data {
namespace {

using testing::default_options;
using testing::pbmc_store;
using testing::run_numpy_reference;
using testing::store_inputs;

std::vector<int64_t> iota_cells(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

TEST(NumpyReplay, RandMatchesNumpy) {
  auto ref = run_numpy_reference("rand 0 1000");
  NumpyRandomState rs(0);
  const auto& want = ref.at("rand");
  ASSERT_EQ(want.size(), 1000u);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(rs.uniform(), want[i]) << "draw " << i;
}

TEST(NumpyReplay, ChoiceWithoutReplacementMatchesNumpy) {
  for (const auto& nk : std::vector<std::pair<int, int>>{{10, 3}, {230, 63}, {1000, 0}, {1, 1}, {70000, 512}}) {
    auto ref = run_numpy_reference("choice 7 " + std::to_string(nk.first) + " " + std::to_string(nk.second));
    NumpyRandomState rs(7);
    for (const char* name : {"choice0", "choice1"}) {
      const auto got = numpy_choice_without_replacement(rs, nk.first, nk.second);
      const auto& want = ref.at(name);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << name << " n=" << nk.first << " at " << i;
    }
  }
}

// scGPT's tokenize_and_pad_batch(max_len 64, pad -2, append_cls) then random_mask_value(0.4, -1, -2)
// after np.random.seed(0), replayed with numpy's stream: every array equal.
TEST(NumpyReplay, MatchesScgptTokenizeFixtureExactly) {
  const std::string dir = test::fixtures_dir() + "/scgpt_preprocess";
  auto z = run_numpy_reference("npz " + dir + "/tokenize.npz");
  const io::Vocab vocab = io::Vocab::load(dir + "/vocab.json");
  const auto& data = z.at("data");
  const auto& gene_ids = z.at("gene_ids");
  const int64_t n_genes = static_cast<int64_t>(gene_ids.size());
  const int64_t n_rows = static_cast<int64_t>(z.at("cells").size());
  ASSERT_EQ(static_cast<int64_t>(data.size()), n_rows * n_genes);

  // Sparse rows: scGPT takes np.nonzero(row) in var order; gene_ids ascend, as store rows do.
  std::vector<std::vector<int32_t>> ids(n_rows);
  std::vector<std::vector<float>> vals(n_rows);
  std::vector<CellInput> cells;
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t g = 0; g < n_genes; ++g) {
      const double v = data[r * n_genes + g];
      if (v != 0.0) {
        ids[r].push_back(static_cast<int32_t>(gene_ids[g]));
        vals[r].push_back(static_cast<float>(v));
      }
    }
    ASSERT_TRUE(std::is_sorted(ids[r].begin(), ids[r].end()));
  }
  for (int64_t r = 0; r < n_rows; ++r)
    cells.push_back(CellInput{static_cast<int64_t>(z.at("cells")[r]), ids[r].data(), vals[r].data(),
                              static_cast<int64_t>(ids[r].size())});

  BatchOptions o;
  o.tokenizer.max_len = static_cast<int64_t>(z.at("max_len")[0]);
  o.tokenizer.cls_id = vocab.cls_id();
  o.tokenizer.pad_id = vocab.pad_id();
  o.tokenizer.pad_value = static_cast<float>(z.at("pad_value")[0]);
  o.tokenizer.cls_value = 0.0f;
  o.tokenizer.numpy_choice = true;
  o.mask.mask_ratio = z.at("mask_ratio")[0];
  o.mask.mask_value = static_cast<float>(z.at("mask_value")[0]);
  o.mask.mask_cls = true;  // scGPT counts <cls> (value 0 != pad) among the maskable positions
  o.mask.numpy_choice = true;
  NumpyRandomState rs(static_cast<uint32_t>(z.at("np_seed")[0]));
  const Batch b = build_batch_replay(cells, o, rs);

  const size_t total = z.at("genes").size();
  ASSERT_EQ(b.size(), n_rows);
  ASSERT_EQ(static_cast<size_t>(b.size() * b.seq_len), total);
  int64_t subsampled = 0;
  for (size_t i = 0; i < total; ++i) {
    const int64_t r = static_cast<int64_t>(i) / b.seq_len, t = static_cast<int64_t>(i) % b.seq_len;
    SCOPED_TRACE("row " + std::to_string(r) + " token " + std::to_string(t));
    ASSERT_EQ(b.genes[i], z.at("genes")[i]);
    ASSERT_EQ(b.values[i], static_cast<float>(z.at("values")[i]));
    ASSERT_EQ(b.masked_values[i], static_cast<float>(z.at("masked_values")[i]));
    ASSERT_EQ(b.mask_positions[i], z.at("mask_positions")[i]);
    ASSERT_EQ(b.sampled_idx[i], z.at("sampled_idx")[i]);
    ASSERT_EQ(b.key_padding_mask[i], z.at("src_key_padding_mask")[i]);
    subsampled += t == 1 && b.sampled_idx[i] >= 0;
  }
  EXPECT_EQ(subsampled, 2);  // the README: cells 20 and 79 exceed max_len - 1
}

TEST(Tokenizer, ClsFirstDistinctGenesWithinMaxLen) {
  const auto& p = pbmc_store();
  for (bool weighted : {false, true}) {
    for (int64_t max_len : {2, 16, 40, 64, 300}) {
      BatchOptions o = default_options(p.vocab, max_len);
      o.tokenizer.use_weighted_sampling = weighted;
      const Batch b = build_batch(store_inputs(p.store, iota_cells(p.store.n_cells())), o, 3);
      for (int64_t r = 0; r < b.size(); ++r) {
        const store::CellRow row = p.store.row(b.cells[r]);
        const int64_t len = b.lengths[r];
        ASSERT_EQ(len, std::min<int64_t>(row.n + 1, max_len));
        const int64_t* g = &b.genes[r * b.seq_len];
        const float* v = &b.values[r * b.seq_len];
        ASSERT_EQ(g[0], p.vocab.cls_id());
        ASSERT_EQ(v[0], 0.0f);
        std::set<int64_t> seen;
        for (int64_t t = 1; t < len; ++t) {
          ASSERT_TRUE(seen.insert(g[t]).second) << "gene twice in cell " << b.cells[r];
          const int32_t* it = std::lower_bound(row.ids, row.ids + row.n, static_cast<int32_t>(g[t]));
          ASSERT_TRUE(it != row.ids + row.n && *it == g[t]) << "gene not in the cell";
          ASSERT_EQ(v[t], row.values[it - row.ids]) << "value is not the gene's";
        }
        for (int64_t t = len; t < b.seq_len; ++t) {
          ASSERT_EQ(g[t], p.vocab.pad_id());
          ASSERT_EQ(v[t], -2.0f);
          ASSERT_EQ(b.key_padding_mask[r * b.seq_len + t], 1);
        }
      }
    }
  }
}

TEST(Tokenizer, ClsValueAndPadToMaxLen) {
  const auto& p = pbmc_store();
  BatchOptions o = default_options(p.vocab, 300);
  o.tokenizer.cls_value = -2.0f;  // scGPT's embedding uses pad_value for <cls>
  o.pad_to_max_len = true;
  const Batch b = build_batch(store_inputs(p.store, {0, 1}), o, 0);
  EXPECT_EQ(b.seq_len, 300);
  EXPECT_EQ(b.values[0], -2.0f);
  EXPECT_EQ(b.key_padding_mask[0], 0);  // <cls> is not a pad even with the pad value
}

TEST(Tokenizer, GenePanelAndIncludeZeroGene) {
  const int32_t ids[] = {2, 5, 9};
  const float vals[] = {1.0f, 2.0f, 3.0f};
  TokenizerOptions o;
  o.cls_id = 100;
  o.pad_id = 101;
  o.max_len = 10;
  o.genes = {9, 4, 2};
  KeyedRandom rs(0, 0, 0, RandomPurpose::subsample);
  TokenizedCell t = tokenize_cell(ids, vals, 3, o, rs);
  EXPECT_EQ(t.genes, (std::vector<int32_t>{100, 9, 2}));
  EXPECT_EQ(t.values, (std::vector<float>{0.0f, 3.0f, 1.0f}));
  o.include_zero_gene = true;
  t = tokenize_cell(ids, vals, 3, o, rs);
  EXPECT_EQ(t.genes, (std::vector<int32_t>{100, 9, 4, 2}));
  EXPECT_EQ(t.values, (std::vector<float>{0.0f, 3.0f, 0.0f, 1.0f}));
  o.genes.clear();
  EXPECT_THROW(validate(o), Error);
  o.include_zero_gene = false;
  o.pad_id = -1;
  EXPECT_THROW(validate(o), Error);
}

// With weights x - min + 1e-5 half of the time, the kept genes' mean value is well above the
// uniform draw's; the uniform draw's mean stays at the population mean.
TEST(Tokenizer, WeightedSamplingPrefersHighValues) {
  const int n = 200;
  std::vector<int32_t> ids(n);
  std::vector<float> vals(n);
  for (int i = 0; i < n; ++i) {
    ids[i] = i;
    vals[i] = static_cast<float>(i + 1);
  }
  TokenizerOptions o;
  o.cls_id = 1000;
  o.pad_id = 1001;
  o.max_len = 21;
  double sum_u = 0, sum_w = 0;
  int64_t cnt = 0;
  const int reps = 2000;
  for (int c = 0; c < reps; ++c) {
    for (bool w : {false, true}) {
      o.use_weighted_sampling = w;
      KeyedRandom rs(1, 0, c, RandomPurpose::subsample);
      const TokenizedCell t = tokenize_cell(ids.data(), vals.data(), n, o, rs);
      double s = 0;
      for (size_t k = 1; k < t.values.size(); ++k) s += t.values[k];
      (w ? sum_w : sum_u) += s;
      if (!w) cnt += static_cast<int64_t>(t.values.size()) - 1;
    }
  }
  const double mean_u = sum_u / cnt, mean_w = sum_w / cnt;
  // Uniform: mean 100.5, sd of one value ~57.7, of the mean over 40000 values (dependent but
  // negatively correlated within a cell) < 0.3.
  EXPECT_NEAR(mean_u, 100.5, 2.0);
  // Weighted half: E[x | weight ~ x-1] ~ 134; the mixture ~ 117.
  EXPECT_GT(mean_w, mean_u + 10.0);
}

TEST(Random, WeightedSampleFrequenciesFollowWeights) {
  const std::vector<double> w = {1, 2, 3, 4};
  std::vector<int64_t> hits(4, 0);
  const int draws = 40000;
  for (int i = 0; i < draws; ++i) {
    KeyedRandom rs(5, 0, i, RandomPurpose::subsample);
    hits[weighted_sample_without_replacement(rs, w, 1)[0]]++;
  }
  for (int k = 0; k < 4; ++k) {
    const double p = w[k] / 10.0;
    const double sd = std::sqrt(draws * p * (1 - p));
    EXPECT_NEAR(hits[k], draws * p, 5 * sd) << "index " << k;
  }
}

TEST(Masking, ExactCountPadsAndClsNeverMasked) {
  const auto& p = pbmc_store();
  BatchOptions o = default_options(p.vocab, 64);
  const Batch b = build_batch(store_inputs(p.store, iota_cells(p.store.n_cells())), o, 1);
  for (int64_t r = 0; r < b.size(); ++r) {
    const int64_t base = r * b.seq_len, len = b.lengths[r];
    int64_t masked = 0;
    EXPECT_EQ(b.mask_positions[base], 0);
    EXPECT_EQ(b.masked_values[base], b.values[base]);
    for (int64_t t = 0; t < b.seq_len; ++t) {
      if (t >= len) {
        ASSERT_EQ(b.mask_positions[base + t], 0) << "pad masked";
        ASSERT_EQ(b.masked_values[base + t], -2.0f);
      }
      if (b.mask_positions[base + t]) {
        ++masked;
        ASSERT_EQ(b.masked_values[base + t], -1.0f);
      } else {
        ASSERT_EQ(b.masked_values[base + t], b.values[base + t]);
      }
    }
    EXPECT_EQ(masked, static_cast<int64_t>((len - 1) * 0.4)) << "cell " << b.cells[r];
  }
}

// Bernoulli masking (scBenchmark): the masked fraction over many cells lies within 5 sd of a
// Binomial(total, ratio) mean; each cell's count within its own binomial 6 sd.
TEST(Masking, BernoulliFractionWithinBinomialBounds) {
  const double ratio = 0.3;
  MaskOptions m;
  m.mask_ratio = ratio;
  m.mode = MaskMode::bernoulli;
  int64_t total = 0, masked = 0;
  for (int64_t c = 0; c < 3000; ++c) {
    const int64_t len = 20 + c % 500;
    std::vector<float> v(static_cast<size_t>(len), 1.0f), out(v.size());
    std::vector<uint8_t> pos(v.size());
    KeyedRandom rs(9, 0, c, RandomPurpose::mask);
    const int64_t k = mask_cell(v.data(), len, true, -2.0f, m, rs, out.data(), pos.data());
    ASSERT_EQ(pos[0], 0);
    const double n = static_cast<double>(len - 1);
    ASSERT_NEAR(k, n * ratio, 6 * std::sqrt(n * ratio * (1 - ratio)) + 1) << "cell " << c;
    total += len - 1;
    masked += k;
  }
  const double sd = std::sqrt(total * ratio * (1 - ratio));
  EXPECT_NEAR(static_cast<double>(masked), total * ratio, 5 * sd);
}

// Keyed randomness: a cell's tokens and mask depend on (seed, epoch, cell) only, not on its
// batch-mates or position; another epoch or seed changes them.
TEST(Batch, KeyedRandomnessIndependentOfOrder) {
  const auto& p = pbmc_store();
  BatchOptions o = default_options(p.vocab, 32);
  o.pad_to_max_len = true;
  std::vector<int64_t> fwd = iota_cells(p.store.n_cells()), rev(fwd.rbegin(), fwd.rend());
  const Batch a = build_batch(store_inputs(p.store, fwd), o, 2);
  const Batch b = build_batch(store_inputs(p.store, rev), o, 2);
  const Batch c = build_batch(store_inputs(p.store, fwd), o, 3);
  const int64_t n = a.size(), T = a.seq_len;
  int64_t differ_epoch = 0;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t rb = n - 1 - r;
    ASSERT_EQ(a.cells[r], b.cells[rb]);
    for (int64_t t = 0; t < T; ++t) {
      ASSERT_EQ(a.genes[r * T + t], b.genes[rb * T + t]);
      ASSERT_EQ(a.masked_values[r * T + t], b.masked_values[rb * T + t]);
      differ_epoch += a.genes[r * T + t] != c.genes[r * T + t] || a.mask_positions[r * T + t] != c.mask_positions[r * T + t];
    }
  }
  EXPECT_GT(differ_epoch, 0);
}

TEST(Masking, RejectsBadRatio) {
  MaskOptions m;
  m.mask_ratio = 1.5;
  EXPECT_THROW(validate(m), Error);
}

}  // namespace
}  // namespace scfm::data
