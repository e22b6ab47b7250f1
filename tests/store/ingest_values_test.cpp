// Value transforms at ingest (IngestOptions::values, `scfm ingest --normalize-total --log1p --bin`):
// the stored values against pp:: applied to the input's rows (mapped through the vocabulary by
// name in store_test_util.h, never by the store code), against numpy reading the shard files
// directly, the manifest's "values" written and read back, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "scfm/io/h5ad.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/normalize.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"
#include "scfm/store/verify.h"
#include "store_test_util.h"
#include "test_util.h"

namespace scfm::store {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using testing::expected_rows;
using testing::Row;
using testing::vocab_of;
using testing::pbmc3k;
using testing::pbmc_small;
using testing::expect_error;

// The non-empty expected rows of the inputs, concatenated, as one CSR matrix (store order).
io::CsrMatrix expected_matrix(const std::vector<std::string>& paths, const io::Vocab& vocab) {
  io::CsrMatrix m;
  m.n_cols = vocab.size();
  for (const auto& p : paths)
    for (const Row& r : expected_rows(p, vocab)) {
      if (r.ids.empty()) continue;
      m.indices.insert(m.indices.end(), r.ids.begin(), r.ids.end());
      m.data.insert(m.data.end(), r.values.begin(), r.values.end());
      m.indptr.push_back(m.nnz());
      ++m.n_rows;
    }
  return m;
}

// Every stored row equals the same row of `want` (ids exactly, values within `tol`); returns the
// largest absolute difference.
double expect_store_equals(const CellStore& s, const io::CsrMatrix& want, double tol) {
  EXPECT_EQ(s.n_cells(), want.n_rows);
  double worst = 0;
  for (int64_t i = 0; i < std::min(s.n_cells(), want.n_rows); ++i) {
    const CellRow got = s.row(i);
    const int64_t a = want.indptr[i];
    EXPECT_EQ(got.n, want.indptr[i + 1] - a) << "cell " << i;
    if (got.n != want.indptr[i + 1] - a) continue;
    for (int64_t k = 0; k < got.n; ++k) {
      EXPECT_EQ(got.ids[k], want.indices[a + k]) << "cell " << i << " entry " << k;
      const double d = std::fabs(static_cast<double>(got.values[k]) - want.data[a + k]);
      worst = std::max(worst, d);
      EXPECT_LE(d, tol) << "cell " << i << " entry " << k << ": " << got.values[k] << " vs " << want.data[a + k];
    }
  }
  return worst;
}

TEST(IngestValues, NormalizeTotalLog1pEqualsPpOnTheInputRows) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc3k()});
  IngestOptions o;
  o.values.normalize_total = true;
  o.values.target_sum = 1e4;
  o.values.log1p = true;
  o.shard_cells = 50;  // several shards and blocks
  o.block_rows = 37;
  const IngestReport r = ingest({pbmc3k()}, vocab, tmp / "s", o);
  ASSERT_TRUE(r.target_sum.has_value());
  EXPECT_EQ(*r.target_sum, 1e4);

  io::CsrMatrix want = expected_matrix({pbmc3k()}, vocab);  // every gene is in this vocabulary
  pp::NormalizeTotalOptions no;
  no.target_sum = 1e4;
  pp::normalize_total(want, no);
  pp::log1p(want);
  const CellStore s = CellStore::open(tmp / "s");
  EXPECT_LE(expect_store_equals(s, want, 1e-6), 1e-6);
  // and the stored values are not the raw counts: a store that ignored the flags fails above;
  // check the scale too: expm1 of a cell's values sums to 1e4
  double sum = 0;
  const CellRow c0 = s.row(0);
  for (int64_t k = 0; k < c0.n; ++k) sum += std::expm1(static_cast<double>(c0.values[k]));
  EXPECT_NEAR(sum, 1e4, 1e-2);
  EXPECT_TRUE(verify_store(tmp / "s").ok());
}

// numpy, reading the h5ad with anndata and the shard files by their documented layout, computes
// log1p(x * 1e4 / sum(x)) in float64 per cell and compares.
TEST(IngestValues, NormalizeTotalLog1pMatchesNumpyReadingTheShards) {
  test::TempDir tmp;
  vocab_of({pbmc3k()}).save(tmp / "v.json");
  const auto r = test::run_command(test::scfm_binary() + " ingest " + pbmc3k() + " --vocab " + (tmp / "v.json") +
                                   " --out " + (tmp / "s") + " --shard-cells 64 --normalize-total 1e4 --log1p 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto py = test::run_python("store/values_check.py", pbmc3k() + " " + (tmp / "s"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const Json j = Json::parse(py.output);
  EXPECT_EQ(j["cells"], 160);
  EXPECT_EQ(j["ids_equal"], true);
  EXPECT_LT(j["max_abs_diff"].get<double>(), 1e-6) << py.output;
}

// Totals are over the genes the store keeps (scGPT filters to its vocabulary, then normalises):
// with half the genes in the vocabulary each cell still sums to the target.
TEST(IngestValues, TotalsAreOverTheStoredGenes) {
  test::TempDir tmp;
  const std::vector<std::string> genes = io::read_h5ad(pbmc3k(), {0}).var_names();
  std::vector<std::string> half;
  for (size_t g = 0; g < genes.size(); g += 2) half.push_back(genes[g]);
  const io::Vocab vocab = io::Vocab::from_tokens(half);
  IngestOptions o;
  o.values.normalize_total = true;
  o.values.target_sum = 500;
  ingest({pbmc3k()}, vocab, tmp / "s", o);
  io::CsrMatrix want = expected_matrix({pbmc3k()}, vocab);
  pp::NormalizeTotalOptions no;
  no.target_sum = 500;
  pp::normalize_total(want, no);
  const CellStore s = CellStore::open(tmp / "s");
  expect_store_equals(s, want, 1e-6 * 500);
  for (int64_t i = 0; i < s.n_cells(); i += 17) {
    const CellRow c = s.row(i);
    double sum = 0;
    for (int64_t k = 0; k < c.n; ++k) sum += c.values[k];
    EXPECT_NEAR(sum, 500, 1e-3) << "cell " << i;
  }
}

// Without a target: scanpy's default, the median of the totals of all kept cells of all inputs.
TEST(IngestValues, NormalizeTotalWithoutTargetUsesTheMedianOfAllInputs) {
  test::TempDir tmp;
  const std::vector<std::string> inputs{pbmc3k(), pbmc_small()};
  const io::Vocab vocab = vocab_of(inputs);
  IngestOptions o;
  o.values.normalize_total = true;
  o.values.log1p = true;
  o.block_rows = 50;
  const IngestReport r = ingest(inputs, vocab, tmp / "s", o);

  io::CsrMatrix want = expected_matrix(inputs, vocab);
  const double median = pp::normalize_total(want, {});  // pp's median over the concatenated cells
  pp::log1p(want);
  ASSERT_TRUE(r.target_sum.has_value());
  EXPECT_DOUBLE_EQ(*r.target_sum, median);
  EXPECT_NE(median, 1e4);
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_TRUE(s.manifest().values.normalize_total.has_value());
  EXPECT_DOUBLE_EQ(*s.manifest().values.normalize_total, median);
  EXPECT_EQ(s.manifest().ingest["normalize_total_target"], "median of the kept cells' totals");
  expect_store_equals(s, want, 1e-6);
}

TEST(IngestValues, ManifestDeclaresTheValuesAndReadsThemBack) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc_small()});
  ingest({pbmc_small()}, vocab, tmp / "raw");
  IngestOptions o;
  o.values.normalize_total = true;
  o.values.target_sum = 1e4;
  o.values.log1p = true;
  o.values.n_bins = 11;
  o.values.bin_seed = 5;
  ingest({pbmc_small()}, vocab, tmp / "t", o);

  const Json raw = Json::parse(test::read_text(tmp / "raw/manifest.json"));
  EXPECT_EQ(raw["values"], Json::parse(R"({"normalize_total": null, "log1p": false, "binning": null})"));
  EXPECT_TRUE(Manifest::load(tmp / "raw").values.raw());
  const Json t = Json::parse(test::read_text(tmp / "t/manifest.json"));
  EXPECT_EQ(t["values"], Json::parse(R"({"normalize_total": 10000.0, "log1p": true,
                                         "binning": {"n_bins": 11, "mode": "keyed", "seed": 5}})"));
  const StoredValues v = Manifest::load(tmp / "t").values;
  EXPECT_FALSE(v.raw());
  EXPECT_EQ(v.normalize_total, 1e4);
  EXPECT_TRUE(v.log1p);
  EXPECT_EQ(v.n_bins, 11);
  EXPECT_EQ(v.bin_mode, "keyed");
  EXPECT_EQ(v.bin_seed, 5u);
  EXPECT_EQ(v.describe(), "normalize_total 10000, log1p, binned (11 bins, keyed, seed 5)");

  // A store written before "values" existed (no key) reads as raw counts.
  Json old = raw;
  old.erase("values");
  test::write_text(tmp / "raw/manifest.json", old.dump(1));
  EXPECT_TRUE(CellStore::open(tmp / "raw").manifest().values.raw());
  // A malformed entry is refused naming the key.
  Json bad = t;
  bad["values"]["log1p"] = "yes";
  test::write_text(tmp / "t/manifest.json", bad.dump(1));
  expect_error([&] { CellStore::open(tmp / "t"); }, {"manifest.json", "values.log1p"});
  bad = t;
  bad["values"]["binning"]["mode"] = "random";
  test::write_text(tmp / "t/manifest.json", bad.dump(1));
  expect_error([&] { CellStore::open(tmp / "t"); }, {"values.binning.mode", "random"});

  // `scfm store info` shows them.
  const auto info = test::run_command(test::scfm_binary() + " store info " + (tmp / "raw") + " 2>&1");
  EXPECT_NE(info.output.find("raw (as read)"), std::string::npos) << info.output;
  test::write_text(tmp / "t/manifest.json", t.dump(1));
  const auto info_t = test::run_command(test::scfm_binary() + " store info " + (tmp / "t") + " --json 2>&1");
  ASSERT_EQ(info_t.exit_code, 0) << info_t.output;
  EXPECT_EQ(Json::parse(info_t.output)["values"], t["values"]);
}

// Binning at ingest equals pp::binning on the whole matrix, whatever the blocks and shards: keyed
// by the store's cell index, numpy's stream in store order, or deterministic.
TEST(IngestValues, BinnedIngestEqualsPpBinning) {
  test::TempDir tmp;
  const std::vector<std::string> inputs{pbmc_small(), pbmc3k()};
  const io::Vocab vocab = vocab_of(inputs);
  io::CsrMatrix logged = expected_matrix(inputs, vocab);
  pp::NormalizeTotalOptions no;
  no.target_sum = 1e4;
  pp::normalize_total(logged, no);
  pp::log1p(logged);
  const io::CsrMatrix raw = expected_matrix(inputs, vocab);

  struct Case {
    std::string name;
    pp::BinningMode mode;
    uint64_t seed;
    bool normalise;
  };
  for (const Case& c : {Case{"keyed", pp::BinningMode::Keyed, 7, true}, Case{"seeded", pp::BinningMode::Seeded, 0, true},
                        Case{"deterministic", pp::BinningMode::Deterministic, 0, false}}) {
    SCOPED_TRACE(c.name);
    IngestOptions o;
    o.shard_cells = 45;
    o.block_rows = 33;
    o.values.normalize_total = c.normalise;
    if (c.normalise) o.values.target_sum = 1e4;
    o.values.log1p = c.normalise;
    o.values.n_bins = 51;
    o.values.bin_mode = c.mode;
    o.values.bin_seed = c.seed;
    ingest(inputs, vocab, tmp / c.name, o);
    const io::CsrMatrix& in = c.normalise ? logged : raw;
    pp::BinningOptions bo;
    bo.n_bins = 51;
    bo.mode = c.mode;
    bo.seed = c.seed;
    const io::CsrMatrix want = pp::binned_csr(in, pp::binning(in, bo));
    const CellStore s = CellStore::open(tmp / c.name);
    EXPECT_EQ(expect_store_equals(s, want, 0), 0);
    EXPECT_EQ(s.manifest().values.bin_mode, c.name);
    EXPECT_EQ(s.manifest().values.n_bins, 51);
    // bins, not values: all in 1..50, and ties broken the same way as pp (checked above)
    const CellRow r = s.row(3);
    for (int64_t k = 0; k < r.n; ++k) {
      EXPECT_GE(r.values[k], 1.0f);
      EXPECT_LE(r.values[k], 50.0f);
      EXPECT_EQ(r.values[k], std::round(r.values[k]));
    }
  }
  // The keyed bins depend on the seed (a store ignoring it would pass the test above only by luck).
  IngestOptions o;
  o.values.n_bins = 51;
  o.values.bin_seed = 8;
  ingest(inputs, vocab, tmp / "keyed8", o);
  const CellStore a = CellStore::open(tmp / "deterministic"), b = CellStore::open(tmp / "keyed8");
  int64_t differ = 0;
  for (int64_t i = 0; i < a.n_cells(); ++i)
    for (int64_t k = 0; k < a.row(i).n; ++k) differ += a.row(i).values[k] != b.row(i).values[k];
  EXPECT_GT(differ, 0);
}

TEST(IngestValues, ErrorsNameTheProblem) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc_small()});
  IngestOptions o;
  o.values.n_bins = 2;
  expect_error([&] { ingest({pbmc_small()}, vocab, tmp / "a", o); }, {"at least 3 bins", "2"});
  o = {};
  o.values.n_bins = 51;
  o.values.bin_mode = pp::BinningMode::Seeded;
  o.values.bin_seed = uint64_t(1) << 33;
  expect_error([&] { ingest({pbmc_small()}, vocab, tmp / "a", o); }, {"32 bits"});
  o = {};
  o.values.normalize_total = true;
  o.values.target_sum = -1;
  expect_error([&] { ingest({pbmc_small()}, vocab, tmp / "a", o); }, {"positive", "target"});
  o = {};
  o.values.target_sum = 1e4;
  expect_error([&] { ingest({pbmc_small()}, vocab, tmp / "a", o); }, {"without normalize_total"});
  EXPECT_FALSE(fs::exists(tmp / "a"));

  vocab.save(tmp / "v.json");
  const std::string base = test::scfm_binary() + " ingest " + pbmc_small() + " --vocab " + (tmp / "v.json") + " --out " + (tmp / "c");
  struct Bad {
    std::string flags, says;
  };
  for (const Bad& b : {Bad{"--bin 2", "--bin: at least 3 bins"}, Bad{"--normalize-total abc", "--normalize-total"},
                       Bad{"--normalize-total -5", "--normalize-total"}, Bad{"--seed 3", "need --bin N_BINS"},
                       Bad{"--bin 51 --bin-mode random", "--bin-mode 'random'"},
                       Bad{"--bin 51 --bin-deterministic --seed 4", "--seed has no effect"}}) {
    const auto r = test::run_command(base + " " + b.flags + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << b.flags;
    EXPECT_NE(r.output.find(b.says), std::string::npos) << b.flags << ": " << r.output;
    EXPECT_FALSE(fs::exists(tmp / "c")) << b.flags;
  }
  // The CLI's flags reach the store: median target without a value, and the bin options.
  auto r = test::run_command(base + " --normalize-total --log1p --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_TRUE(j["values"]["normalize_total"].is_number());
  EXPECT_NE(j["values"]["normalize_total"].get<double>(), 1e4);
  EXPECT_EQ(j["values"]["log1p"], true);
  r = test::run_command(test::scfm_binary() + " ingest " + pbmc_small() + " --vocab " + (tmp / "v.json") + " --out " +
                        (tmp / "d") + " --bin 21 --bin-deterministic --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Json::parse(r.output)["values"]["binning"], Json::parse(R"({"n_bins": 21, "mode": "deterministic"})"));
}

}  // namespace
}  // namespace scfm::store
