// Pretraining's value transform honours what a store declares about its values (manifest
// "values", written by `scfm ingest --normalize-total --log1p --bin`): a cell's input is the same
// whether the store holds raw counts or values normalised and log1p'd at ingest, binned stores are
// not re-binned, and stores whose values cannot give pretraining's input are refused by name.
#include <gtest/gtest.h>

#include <cmath>

#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"
#include "scfm/train/trainer.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;

namespace {

std::string pbmc3k() { return test::real_data("pbmc3k_decoupler.h5ad"); }

io::Vocab pbmc3k_vocab() { return io::Vocab::build({io::read_h5ad(pbmc3k(), {0}).var_names()}); }

std::vector<float> transformed(const data::ValueTransform& t, const store::CellStore& s, int64_t i, int64_t epoch = 1) {
  const store::CellRow r = s.row(i);
  data::CellInput in;
  in.cell = i;
  in.ids = r.ids;
  in.values = r.values;
  in.n = r.n;
  std::vector<float> v(r.values, r.values + r.n);
  t(in, epoch, v);
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(StoreValues, PretrainInputIsTheSameForRawAndNormalisedStores) {
  test::TempDir tmp;
  const io::Vocab vocab = pbmc3k_vocab();
  store::ingest({pbmc3k()}, vocab, tmp / "raw");
  store::IngestOptions o;
  o.values.normalize_total = true;
  o.values.target_sum = 1e4;
  o.values.log1p = true;
  store::ingest({pbmc3k()}, vocab, tmp / "log", o);
  o.values.log1p = false;
  o.values.target_sum = 250;  // normalised to another total, not logged: rescaled at training time
  store::ingest({pbmc3k()}, vocab, tmp / "norm", o);
  const store::CellStore raw = store::CellStore::open(tmp / "raw");
  const store::CellStore log = store::CellStore::open(tmp / "log");
  const store::CellStore norm = store::CellStore::open(tmp / "norm");
  ASSERT_TRUE(log.manifest().values.log1p);

  train::PretrainOptions po;
  const data::ValueTransform t_raw = train::pretrain_value_transform(po, raw);
  const data::ValueTransform t_log = train::pretrain_value_transform(po, log);
  const data::ValueTransform t_norm = train::pretrain_value_transform(po, norm);
  ASSERT_EQ(raw.n_cells(), log.n_cells());
  double worst = 0, worst_norm = 0;
  for (int64_t i = 0; i < raw.n_cells(); ++i) {
    const std::vector<float> a = transformed(t_raw, raw, i), b = transformed(t_log, log, i), c = transformed(t_norm, norm, i);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(a.size(), c.size());
    for (size_t k = 0; k < a.size(); ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(a[k] - b[k])));
      worst_norm = std::max(worst_norm, static_cast<double>(std::fabs(a[k] - c[k])));
    }
  }
  EXPECT_LE(worst, 1e-5);
  EXPECT_LE(worst_norm, 1e-5);
  // The log1p store is used as stored: transforming it again (the old behaviour) would change it.
  const std::vector<float> b0 = transformed(t_log, log, 0);
  const store::CellRow r0 = log.row(0);
  for (int64_t k = 0; k < r0.n; ++k) ASSERT_EQ(b0[k], r0.values[k]);
  // and the raw store's values are transformed (log1p of a normalised count, not the count)
  EXPECT_NE(transformed(t_raw, raw, 0)[0], raw.row(0).values[0]);

  // bin mode: the same values go into the same keyed binning
  po.preprocess_mode = "bin";
  const data::ValueTransform bin_raw = train::pretrain_value_transform(po, raw);
  const data::ValueTransform bin_log = train::pretrain_value_transform(po, log);
  int64_t same = 0, total = 0;
  for (int64_t i = 0; i < raw.n_cells(); ++i) {
    const std::vector<float> a = transformed(bin_raw, raw, i, 2), b = transformed(bin_log, log, i, 2);
    for (size_t k = 0; k < a.size(); ++k) same += a[k] == b[k];
    total += static_cast<int64_t>(a.size());
  }
  EXPECT_GE(static_cast<double>(same) / total, 0.999) << same << " of " << total;
}

TEST(StoreValues, BinnedStoresAreNotReBinnedAndMismatchesAreErrors) {
  test::TempDir tmp;
  const io::Vocab vocab = pbmc3k_vocab();
  store::IngestOptions o;
  o.values.n_bins = 21;
  o.values.bin_seed = 3;
  store::ingest({pbmc3k()}, vocab, tmp / "bins", o);
  const store::CellStore bins = store::CellStore::open(tmp / "bins");

  train::PretrainOptions po;
  po.preprocess_mode = "bin";
  po.n_bins = 21;
  const data::ValueTransform t = train::pretrain_value_transform(po, bins);
  for (int64_t i : {0, 7, 159}) {
    const std::vector<float> v = transformed(t, bins, i, 3);
    const store::CellRow r = bins.row(i);
    for (int64_t k = 0; k < r.n; ++k) ASSERT_EQ(v[k], r.values[k]) << "cell " << i;
  }

  po.n_bins = 51;
  std::string e = error_of([&] { train::pretrain_value_transform(po, bins); });
  EXPECT_NE(e.find(tmp / "bins"), std::string::npos) << e;
  EXPECT_NE(e.find("values.binning.n_bins"), std::string::npos) << e;
  EXPECT_NE(e.find("21"), std::string::npos) << e;

  po.preprocess_mode = "none";
  po.n_bins = 21;
  e = error_of([&] { train::pretrain_value_transform(po, bins); });
  EXPECT_NE(e.find(tmp / "bins"), std::string::npos) << e;
  EXPECT_NE(e.find("values.binning"), std::string::npos) << e;
  EXPECT_NE(e.find("--preprocess-mode bin"), std::string::npos) << e;

  // log1p of another total cannot be turned into pretraining's log1p(normalize_total(x, 1e4))
  store::IngestOptions m;
  m.values.normalize_total = true;  // the median
  m.values.log1p = true;
  store::ingest({pbmc3k()}, vocab, tmp / "median", m);
  e = error_of([&] { train::pretrain_value_transform(po, store::CellStore::open(tmp / "median")); });
  EXPECT_NE(e.find(tmp / "median"), std::string::npos) << e;
  EXPECT_NE(e.find("values.normalize_total"), std::string::npos) << e;
}

}  // namespace
