// Ingest (.h5ad / 10x -> cell store) and random access by global index. Expected rows come from
// the fully loaded input (io::read_h5ad(...).matrix_csr()) mapped through the vocabulary by name
// (store_test_util.h), never from the store code; cell and gene counts from the input files.
#include "scfm/store/ingest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "scfm/io/h5ad.h"
#include "scfm/store/reader.h"
#include "scfm/store/verify.h"
#include "store_test_util.h"
#include "test_util.h"

namespace scfm::store {
namespace {

namespace fs = std::filesystem;
using testing::expected_rows;
using testing::Row;
using testing::vocab_of;
using testing::pbmc3k;
using testing::pbmc_small;

void expect_row(const CellStore& s, int64_t i, const Row& want) {
  const CellRow got = s.row(i);
  ASSERT_EQ(got.n, static_cast<int64_t>(want.ids.size())) << "cell " << i;
  for (int64_t k = 0; k < got.n; ++k) {
    ASSERT_EQ(got.ids[k], want.ids[k]) << "cell " << i << " entry " << k;
    ASSERT_EQ(got.values[k], want.values[k]) << "cell " << i << " entry " << k;
  }
}

TEST(Ingest, Pbmc3kWithItsOwnVocabHoldsXExactly) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc3k()});
  ASSERT_EQ(vocab.size(), 8674 + 3);  // README: 8,674 genes; + <pad> <cls> <eoc>
  IngestOptions o;
  o.obs_columns = {"cell_type"};
  const IngestReport r = ingest({pbmc3k()}, vocab, tmp / "s", o);

  const io::AnnData a = io::read_h5ad(pbmc3k());
  const io::CsrMatrix x = a.matrix_csr();
  int64_t nonzero = 0;
  for (float v : x.data) nonzero += v != 0.0f;

  const CellStore s = CellStore::open(tmp / "s");
  EXPECT_EQ(s.n_cells(), 160);
  EXPECT_EQ(s.nnz(), nonzero);
  EXPECT_EQ(s.n_shards(), 1);
  EXPECT_EQ(s.vocab_size(), vocab.size());
  EXPECT_EQ(s.manifest().vocab_checksum, vocab.checksum());
  EXPECT_EQ(s.obs_columns(), (std::vector<std::string>{"dataset", "barcode", "cell_type"}));
  EXPECT_EQ(r.n_genes_dropped, 0);
  EXPECT_EQ(r.n_cells_all_zero, 0);
  EXPECT_EQ(s.manifest().ingest["genes_dropped"]["count"], 0);
  EXPECT_EQ(s.manifest().ingest["cells_dropped_all_zero"], 0);

  const std::vector<Row> want = expected_rows(pbmc3k(), vocab);
  const std::vector<std::string> barcodes = a.obs_names();
  const std::vector<std::string> types = io::column_strings(a.obs(), "cell_type");
  for (int64_t i = 0; i < 160; ++i) {
    expect_row(s, i, want[i]);
    EXPECT_EQ(s.obs("barcode", i), barcodes[i]);
    EXPECT_EQ(s.obs("cell_type", i), types[i]);
    EXPECT_EQ(s.obs("dataset", i), "pbmc3k_decoupler");
  }
  // The store carries its vocabulary.
  EXPECT_EQ(io::Vocab::load(tmp / "s/vocab.json").checksum(), vocab.checksum());
  EXPECT_TRUE(verify_store(tmp / "s").ok());
}

TEST(Ingest, HalfVocabDropsAndCountsGenesAndKeepsTheRest) {
  test::TempDir tmp;
  const std::vector<std::string> genes = io::read_h5ad(pbmc3k(), {0}).var_names();
  std::vector<std::string> half;
  for (size_t g = 0; g < genes.size(); g += 2) half.push_back(genes[g]);
  const io::Vocab vocab = io::Vocab::from_tokens(half);
  const IngestReport r = ingest({pbmc3k()}, vocab, tmp / "s");

  const int64_t n_dropped = static_cast<int64_t>(genes.size() - half.size());  // 4337
  EXPECT_EQ(r.n_genes_dropped, n_dropped);
  const CellStore s = CellStore::open(tmp / "s");
  const auto& gd = s.manifest().ingest["genes_dropped"];
  EXPECT_EQ(gd["count"].get<int64_t>(), n_dropped);
  ASSERT_FALSE(gd["examples"].empty());
  EXPECT_EQ(gd["examples"][0].get<std::string>(), genes[1]);  // the first gene not kept

  // Cells without a non-zero kept gene are dropped; the others keep their order.
  const std::vector<Row> want = expected_rows(pbmc3k(), vocab);
  std::vector<int64_t> kept;
  for (size_t c = 0; c < want.size(); ++c)
    if (!want[c].ids.empty()) kept.push_back(static_cast<int64_t>(c));
  ASSERT_EQ(s.n_cells(), static_cast<int64_t>(kept.size()));
  EXPECT_EQ(r.n_cells_all_zero, 160 - static_cast<int64_t>(kept.size()));
  const std::vector<std::string> barcodes = io::read_h5ad(pbmc3k(), {0}).obs_names();
  for (int64_t i = 0; i < s.n_cells(); ++i) {
    expect_row(s, i, want[kept[i]]);
    EXPECT_EQ(s.obs("barcode", i), barcodes[kept[i]]);
  }
}

TEST(Ingest, ConcatenatesInputsWithADatasetColumn) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc3k(), pbmc_small()});
  IngestOptions o;
  o.obs_columns = {"cell_type"};
  // pbmc_small has no cell_type: an error naming the file and the column, and nothing written.
  try {
    ingest({pbmc3k(), pbmc_small()}, vocab, tmp / "s", o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pbmc_small.h5ad"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cell_type"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "s"));
  for (const auto& e : fs::directory_iterator(tmp.path())) ADD_FAILURE() << "left behind: " << e.path();

  o.allow_missing_obs = true;
  o.shard_cells = 64;
  const IngestReport r = ingest({pbmc3k(), pbmc_small()}, vocab, tmp / "s", o);
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_EQ(s.n_cells(), 160 + 80);
  EXPECT_EQ(s.n_shards(), 4);  // 64 + 64 + 64 + 48: shard 2 spans both inputs
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[1].n_genes, 230);
  const std::vector<Row> a = expected_rows(pbmc3k(), vocab);
  const std::vector<Row> b = expected_rows(pbmc_small(), vocab);
  const std::vector<std::string> small_barcodes = io::read_h5ad(pbmc_small(), {0}).obs_names();
  for (int64_t i = 0; i < 240; ++i) {
    if (i < 160) {
      expect_row(s, i, a[i]);
      EXPECT_EQ(s.obs("dataset", i), "pbmc3k_decoupler");
      EXPECT_FALSE(s.obs("cell_type", i).empty());
    } else {
      expect_row(s, i, b[i - 160]);
      EXPECT_EQ(s.obs("dataset", i), "pbmc_small");
      EXPECT_EQ(s.obs("barcode", i), small_barcodes[i - 160]);
      EXPECT_EQ(s.obs("cell_type", i), "");
    }
  }
}

TEST(Ingest, ShardBoundariesAndRandomAccess) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc3k()});
  IngestOptions o;
  o.shard_cells = 50;
  o.block_rows = 7;  // blocks that straddle shard boundaries
  ingest({pbmc3k()}, vocab, tmp / "s", o);
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_EQ(s.n_shards(), 4);
  EXPECT_EQ(s.shard_starts(), (std::vector<int64_t>{0, 50, 100, 150, 160}));
  for (int k = 0; k < 4; ++k) EXPECT_EQ(s.manifest().shards[k].n_cells, k < 3 ? 50 : 10);
  EXPECT_EQ(s.shard_of(49), 0);
  EXPECT_EQ(s.shard_of(50), 1);
  EXPECT_EQ(s.shard_of(159), 3);
  const std::vector<Row> want = expected_rows(pbmc3k(), vocab);
  const std::vector<std::string> barcodes = io::read_h5ad(pbmc3k(), {0}).obs_names();
  std::vector<int64_t> order(160);
  for (int64_t i = 0; i < 160; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  for (int64_t i : {49, 50, 99, 100, 149, 150, 159, 0}) order.push_back(i);
  for (int64_t i : order) {
    expect_row(s, i, want[i]);
    EXPECT_EQ(s.obs("barcode", i), barcodes[i]);
  }
  EXPECT_THROW(s.row(160), Error);
  EXPECT_THROW(s.row(-1), Error);
  EXPECT_THROW(s.obs("no_such_column", 0), Error);
}

TEST(Ingest, DropsAndCountsAllZeroCells) {
  test::TempDir tmp;
  // pbmc_small with rows 3 and 79 emptied and row 10 holding explicit zeros only.
  io::AnnData a = io::read_h5ad(pbmc_small());
  io::CsrMatrix x = a.matrix_csr();
  io::CsrMatrix y;
  y.n_rows = x.n_rows;
  y.n_cols = x.n_cols;
  for (int64_t r = 0; r < x.n_rows; ++r) {
    for (int64_t k = x.indptr[r]; k < x.indptr[r + 1]; ++k) {
      if (r == 3 || r == 79) continue;
      y.indices.push_back(x.indices[k]);
      y.data.push_back(r == 10 ? 0.0f : x.data[k]);
    }
    y.indptr.push_back(static_cast<int64_t>(y.indices.size()));
  }
  a.set_matrix("", io::make_csr(y));
  const std::string zeros = tmp / "zeros.h5ad";
  io::write_h5ad(a, zeros);

  const io::Vocab vocab = vocab_of({pbmc_small()});
  const IngestReport r = ingest({zeros}, vocab, tmp / "s");
  EXPECT_EQ(r.n_cells_all_zero, 3);
  EXPECT_EQ(r.n_cells_read, 80);
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_EQ(s.n_cells(), 77);
  EXPECT_EQ(s.manifest().ingest["cells_dropped_all_zero"].get<int64_t>(), 3);
  const std::vector<Row> want = expected_rows(pbmc_small(), vocab);
  const std::vector<std::string> barcodes = a.obs_names();
  int64_t i = 0;
  for (int64_t c = 0; c < 80; ++c) {
    if (c == 3 || c == 10 || c == 79) continue;
    expect_row(s, i, want[c]);
    EXPECT_EQ(s.obs("barcode", i), barcodes[c]);
    EXPECT_EQ(s.obs("dataset", i), "zeros");
    ++i;
  }
}

TEST(Ingest, ReadsALayer) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc3k()});
  IngestOptions o;
  o.layer = "seurat_lognorm";
  ingest({pbmc3k()}, vocab, tmp / "s", o);
  const CellStore s = CellStore::open(tmp / "s");
  EXPECT_EQ(s.manifest().layer, "seurat_lognorm");
  const std::vector<Row> want = expected_rows(pbmc3k(), vocab, "seurat_lognorm");
  ASSERT_EQ(s.n_cells(), 160);
  for (int64_t i = 0; i < 160; ++i) expect_row(s, i, want[i]);
  o.layer = "no_such_layer";
  EXPECT_THROW(ingest({pbmc3k()}, vocab, tmp / "t", o), Error);
  EXPECT_FALSE(fs::exists(tmp / "t"));
}

// Obs is read per block of cells (io::H5adObsReader), not whole: every kind of column, blocks of 7
// rows, cells dropped inside blocks (with and without a value transform), a missing column.
TEST(Ingest, ObsColumnsOfEveryKindReadPerBlock) {
  test::TempDir tmp;
  // pbmc_small with rows 3, 9 and 20 emptied and obs columns of every kind
  io::AnnData a = io::read_h5ad(pbmc_small());
  const io::CsrMatrix x = a.matrix_csr();
  io::CsrMatrix y = x;
  y.indices.clear();
  y.data.clear();
  y.indptr.assign(1, 0);
  for (int64_t r = 0; r < x.n_rows; ++r) {
    if (r != 3 && r != 9 && r != 20)
      for (int64_t k = x.indptr[r]; k < x.indptr[r + 1]; ++k) {
        y.indices.push_back(x.indices[k]);
        y.data.push_back(x.data[k]);
      }
    y.indptr.push_back(static_cast<int64_t>(y.indices.size()));
  }
  a.set_matrix("", io::make_csr(y));
  const int64_t n = a.n_obs();
  std::vector<int32_t> codes;
  std::vector<std::string> names;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<bool> flags, mask;
  for (int64_t i = 0; i < n; ++i) {
    codes.push_back(i % 5 == 0 ? -1 : static_cast<int32_t>(i % 3));  // -1: NA
    names.push_back("sample " + std::to_string(i * 7));
    ints.push_back(i * 1000003 - 40);
    reals.push_back(i == 4 ? std::nan("") : 0.1 * static_cast<double>(i) - 2.5);
    flags.push_back(i % 4 == 1);
    mask.push_back(i % 6 == 2);
  }
  io::Node& obs = a.obs();
  io::dataframe_set_column(obs, "kind", io::make_categorical(codes, io::make_string_array({"B", "T", "NK"})));
  io::dataframe_set_column(obs, "name", io::make_string_array(names));
  io::dataframe_set_column(obs, "count", io::make_array(io::Array::from(ints)));
  io::dataframe_set_column(obs, "score", io::make_array(io::Array::from(reals)));
  io::dataframe_set_column(obs, "flag", io::make_array(io::Array::from(flags)));
  io::dataframe_set_column(obs, "maybe", io::make_nullable("nullable-integer", io::Array::from(ints), mask));
  const std::string input = tmp / "kinds.h5ad";
  io::write_h5ad(a, input);

  const io::AnnData whole = io::read_h5ad(input);
  const std::vector<std::string> columns{"kind", "name", "count", "score", "flag", "maybe", "groups"};
  std::vector<std::vector<std::string>> want;
  for (const std::string& c : columns) want.push_back(io::column_strings(whole.obs(), c));
  const std::vector<std::string> barcodes = whole.obs_names();
  const io::Vocab vocab = vocab_of({pbmc_small()});
  for (bool transform : {false, true}) {
    SCOPED_TRACE(transform ? "normalize_total + log1p" : "values as read");
    IngestOptions o;
    o.block_rows = 7;
    o.shard_cells = 30;
    o.obs_columns = columns;
    o.obs_columns.push_back("not_there");
    o.allow_missing_obs = true;
    o.values.normalize_total = transform;  // without a target: the median pass, which reads no obs
    o.values.log1p = transform;
    const std::string out = tmp / (transform ? "t" : "s");
    const IngestReport r = ingest({input}, vocab, out, o);
    EXPECT_EQ(r.n_cells_all_zero, 3);
    const CellStore s = CellStore::open(out);
    ASSERT_EQ(s.n_cells(), n - 3);
    int64_t i = 0;
    for (int64_t c = 0; c < n; ++c) {
      if (c == 3 || c == 9 || c == 20) continue;
      EXPECT_EQ(s.obs("barcode", i), barcodes[c]) << "cell " << c;
      for (size_t k = 0; k < columns.size(); ++k) EXPECT_EQ(s.obs(columns[k], i), want[k][c]) << columns[k] << " cell " << c;
      EXPECT_EQ(s.obs("not_there", i), "");
      ++i;
    }
  }
  // the kinds are there: NA categories, NaN, bools, masked values
  EXPECT_EQ(want[0][0], "");
  EXPECT_EQ(want[0][1], "T");
  EXPECT_EQ(want[3][4], "nan");
  EXPECT_EQ(want[4][1], "True");
  EXPECT_EQ(want[5][2], "");
  EXPECT_EQ(want[5][1], "999963");
}

TEST(Ingest, TenxFolderGivesTheSameCellsAsTheH5ad) {
  test::TempDir tmp;
  const std::string dir = test::real_data("pbmc3k_decoupler_10x");
  const io::Vocab vocab = vocab_of({pbmc3k()});
  ingest({dir}, vocab, tmp / "s");
  const CellStore s = CellStore::open(tmp / "s");
  const std::vector<Row> want = expected_rows(pbmc3k(), vocab);
  ASSERT_EQ(s.n_cells(), 160);
  EXPECT_EQ(s.obs("dataset", 0), "pbmc3k_decoupler_10x");
  const std::vector<std::string> barcodes = io::read_any(dir).obs_names();
  for (int64_t i = 0; i < 160; ++i) {
    expect_row(s, i, want[i]);
    EXPECT_EQ(s.obs("barcode", i), barcodes[i]);
  }
}

TEST(Ingest, RefusesAnExistingPathUnlessOverwritingAStore) {
  test::TempDir tmp;
  const io::Vocab vocab = vocab_of({pbmc_small()});
  ingest({pbmc_small()}, vocab, tmp / "s");
  EXPECT_THROW(ingest({pbmc_small()}, vocab, tmp / "s"), Error);
  IngestOptions o;
  o.overwrite = true;
  o.shard_cells = 30;
  ingest({pbmc_small()}, vocab, tmp / "s", o);
  EXPECT_EQ(CellStore::open(tmp / "s").n_shards(), 3);
  // Never deletes a folder that is not a store.
  fs::create_directories(tmp / "data");
  test::write_text(tmp / "data/keep.txt", "x");
  EXPECT_THROW(ingest({pbmc_small()}, vocab, tmp / "data", o), Error);
  EXPECT_TRUE(fs::exists(tmp / "data/keep.txt"));
}

}  // namespace
}  // namespace scfm::store

namespace scfm::store {
namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

// scBenchmark's / scBank's Parquet rows of pbmc_small (written by arrow-rs: tests/data/parquet)
// and pbmc_small.h5ad itself make the same store, byte for byte: every shard file.
TEST(IngestParquet, SameShardsAsTheH5adOfTheSameCells) {
  test::TempDir tmp;
  const std::string dir = test::source_dir() + "/tests/data/parquet/";
  const io::Vocab vocab = io::Vocab::load(dir + "vocab.json");
  IngestOptions o;
  o.obs_columns = {"groups"};
  o.shard_cells = 30;  // several shards
  o.dataset_names = {"pbmc_small"};
  ingest({testing::pbmc_small()}, vocab, tmp / "h5ad", o);
  std::vector<std::string> shards;
  for (const auto& e : fs::directory_iterator(tmp / "h5ad"))
    if (e.path().filename().string().rfind("shard_", 0) == 0) shards.push_back(e.path().filename().string());
  ASSERT_EQ(shards.size(), 3u);
  for (const char* f : {"snappy_dict_v1.parquet", "zstd_plain_v2.parquet", "gzip_dict_v1.parquet"}) {
    SCOPED_TRACE(f);
    const std::string out = tmp / (std::string("pq_") + f);
    const IngestReport r = ingest({dir + f}, vocab, out, o);
    EXPECT_EQ(r.inputs[0].n_cells_kept, 80);
    for (const auto& s : shards) EXPECT_EQ(bytes_of(out + "/" + s), bytes_of(tmp / ("h5ad/" + s))) << s;
    EXPECT_TRUE(verify_store(out).ok());
  }
  // without an id column the barcodes are row numbers; the values are still the file's
  const std::string noid = tmp / "noid";
  IngestOptions p;
  ingest({dir + "plain_noid.parquet"}, vocab, noid, p);
  const CellStore s = CellStore::open(noid);
  const auto want = expected_rows(testing::pbmc_small(), vocab);
  ASSERT_EQ(s.n_cells(), 80);
  for (int64_t i = 0; i < 80; ++i) expect_row(s, i, want[i]);
  EXPECT_EQ(s.obs("barcode", 7), "7");
}

TEST(IngestParquet, WrongInputsWriteNothing) {
  test::TempDir tmp;
  const std::string dir = test::source_dir() + "/tests/data/parquet/";
  const io::Vocab vocab = io::Vocab::load(dir + "vocab.json");
  IngestOptions o;
  for (const char* f : {"bad_no_expressions.parquet", "bad_genes_string.parquet", "bad_fractional_genes.parquet"}) {
    EXPECT_THROW(ingest({dir + f}, vocab, tmp / "s", o), FormatError) << f;
    EXPECT_FALSE(fs::exists(tmp / "s"));
  }
  // a vocabulary too small for the ids
  const io::Vocab small = io::Vocab::build({{"GENE_A", "GENE_B", "GENE_C"}});
  try {
    ingest({dir + "gzip_dict_v1.parquet"}, small, tmp / "s", o);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("outside the vocabulary"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "s"));
  o.from = "parquet";
  EXPECT_THROW(ingest({testing::pbmc_small()}, vocab, tmp / "s", o), Error);
  o.obs_columns = {"cell_type"};
  o.from = "auto";
  EXPECT_THROW(ingest({dir + "gzip_dict_v1.parquet"}, vocab, tmp / "s", o), FormatError);
  EXPECT_FALSE(fs::exists(tmp / "s"));
}

}  // namespace scfm::store

namespace scfm::store {

// scGPT scBank folders of pbmc_small (tests/data/scbank_*: manifest.json, gene_vocab.json, the
// counts table in Parquet or JSON lines) into a store whose vocabulary orders the genes
// differently: the folder's ids are mapped by gene name, so the store equals the .h5ad's.
TEST(IngestScbank, MapsTheFolderVocabularyByName) {
  test::TempDir tmp;
  const std::string data = test::source_dir() + "/tests/data/";
  std::vector<std::string> genes = io::read_h5ad(testing::pbmc_small()).var_names();
  std::reverse(genes.begin(), genes.end());
  genes.erase(genes.begin() + 5);  // one gene the store does not know: dropped and counted
  const io::Vocab vocab = io::Vocab::from_tokens(genes);
  IngestOptions o;
  o.dataset_names = {"pbmc_small"};
  o.shard_cells = 30;
  const IngestReport h = ingest({testing::pbmc_small()}, vocab, tmp / "h5ad", o);
  const IngestReport p = ingest({data + "scbank_parquet"}, vocab, tmp / "pq", o);
  EXPECT_EQ(p.inputs[0].n_genes_dropped, 1);
  EXPECT_EQ(p.inputs[0].n_cells_kept, h.inputs[0].n_cells_kept);
  for (const auto& e : fs::directory_iterator(tmp / "h5ad"))
    if (e.path().filename().string().rfind("shard_", 0) == 0)
      EXPECT_EQ(bytes_of(e.path().string()), bytes_of(tmp / ("pq/" + e.path().filename().string()))) << e.path();
  // JSON lines: scBank's ids are row numbers, so the barcodes differ; every row is the same
  o.from = "scbank";
  ingest({data + "scbank_json"}, vocab, tmp / "json", o);
  const CellStore a = CellStore::open(tmp / "h5ad"), b = CellStore::open(tmp / "json");
  ASSERT_EQ(a.n_cells(), b.n_cells());
  for (int64_t i = 0; i < a.n_cells(); ++i) {
    const CellRow x = a.row(i), y = b.row(i);
    ASSERT_EQ(x.n, y.n) << i;
    for (int64_t k = 0; k < x.n; ++k) {
      ASSERT_EQ(x.ids[k], y.ids[k]);
      ASSERT_EQ(x.values[k], y.values[k]);
    }
  }
  EXPECT_EQ(b.obs("barcode", 12), "12");
  EXPECT_EQ(b.obs("dataset", 0), "pbmc_small");
  // a folder that is not an scBank, a manifest without its table
  EXPECT_THROW(ingest({data + "parquet"}, vocab, tmp / "x", o), Error);
  fs::create_directories(tmp / "bank");
  fs::copy_file(data + "scbank_json/gene_vocab.json", tmp / "bank/gene_vocab.json");
  test::write_text(tmp / "bank/manifest.json", R"({"on_disk_format": "json", "main_data": "X", "gene_vocab_md5": null})");
  try {
    ingest({tmp / "bank"}, vocab, tmp / "x", o);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("main_data"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "x"));
}

}  // namespace scfm::store
