// io/parquet on files written by a real Parquet writer (tests/data/parquet: parquet-wasm, i.e.
// arrow-rs, from pbmc_small's cells; make.sh regenerates them): every encoding and codec those
// files use gives back pbmc_small's cells exactly; damaged and wrong files are refused by name.
#include "scfm/io/parquet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "scfm/io/h5ad.h"
#include "scfm/io/parquet_cells.h"
#include "scfm/io/vocab.h"
#include "scfm/util/error.h"
#include "test_util.h"

namespace scfm::io {
namespace {

std::string data(const std::string& name) { return test::source_dir() + "/tests/data/parquet/" + name; }

// pbmc_small's rows as (vocab id -> value), computed from the .h5ad through the vocabulary
std::vector<std::map<int32_t, float>> expected() {
  const Vocab vocab = Vocab::load(data("vocab.json"));
  const AnnData a = read_h5ad(test::real_data("pbmc_small.h5ad"));
  const CsrMatrix m = a.matrix_csr();
  const auto genes = a.var_names();
  std::vector<std::map<int32_t, float>> rows(static_cast<size_t>(m.n_rows));
  for (int64_t r = 0; r < m.n_rows; ++r)
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k)
      if (m.data[k] != 0) rows[r][vocab.id(genes[m.indices[k]])] = m.data[k];
  return rows;
}

}  // namespace

TEST(Parquet, EveryWrittenLayoutReadsBackPbmcSmall) {
  const auto want = expected();
  const AnnData a = read_h5ad(test::real_data("pbmc_small.h5ad"));
  const auto names = a.obs_names();
  const auto groups = column_strings(a.obs(), "groups");
  const Vocab vocab = Vocab::load(data("vocab.json"));
  struct Case { const char* file; int row_groups; bool id; };
  for (const Case& c : {Case{"snappy_dict_v1.parquet", 3, true}, Case{"zstd_plain_v2.parquet", 2, true},
                        Case{"gzip_dict_v1.parquet", 1, true}, Case{"plain_noid.parquet", 4, false},
                        Case{"scbench_float_genes.parquet", 1, false}}) {
    SCOPED_TRACE(c.file);
    ParquetCells cells(data(c.file));
    ASSERT_EQ(cells.n_rows(), 80);
    EXPECT_EQ(cells.n_blocks(), c.row_groups);
    int64_t row = 0;
    for (int b = 0; b < cells.n_blocks(); ++b) {
      const CsrMatrix m = cells.block(b, vocab.size());
      const auto obs = cells.block_obs(b, c.id ? std::vector<std::string>{"groups"} : std::vector<std::string>{});
      ASSERT_EQ(cells.block_first(b), row);
      for (int64_t r = 0; r < m.n_rows; ++r, ++row) {
        std::map<int32_t, float> got;
        for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) got[m.indices[k]] = m.data[k];
        ASSERT_EQ(got, want[row]) << "row " << row;
        EXPECT_EQ(obs[0][r], c.id ? names[row] : std::to_string(row));
        if (c.id) EXPECT_EQ(obs[1][r], groups[row]);
      }
    }
    EXPECT_EQ(row, 80);
  }
  ParquetFile f(data("zstd_plain_v2.parquet"));
  EXPECT_EQ(f.column("genes")->type_name(), "list<int32>");
  EXPECT_EQ(f.column("expressions")->type_name(), "list<double>");
  EXPECT_EQ(f.column("id")->type_name(), "string");
  EXPECT_NE(f.created_by().find("parquet-rs"), std::string::npos) << f.created_by();
  // scBenchmark's combined layout: float ids, pandas' index as a flat column
  ParquetFile sb(data("scbench_float_genes.parquet"));
  EXPECT_EQ(sb.column("genes")->type_name(), "list<float>");
  EXPECT_EQ(ParquetCells(data("scbench_float_genes.parquet")).flat_columns(), std::vector<std::string>{"__index_level_0__"});
}

TEST(Parquet, WrongSchemasAreNamed) {
  auto message = [](const std::string& file) {
    try {
      ParquetCells c(data(file));
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("bad_no_expressions.parquet").find("expressions: no such column; expected list<float> (the columns are: id (string), genes (list<int64>)"),
            std::string::npos);
  EXPECT_NE(message("bad_genes_string.parquet").find("genes: expected a list of integer ids (list<int64>, list<int32> or "
                                                     "whole-number list<float>), found list<string>"),
            std::string::npos);
  // ids stored as floats must be whole numbers
  ParquetCells fractional(data("bad_fractional_genes.parquet"));
  try {
    fractional.block(0, 233);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a whole number"), std::string::npos) << e.what();
  }
  // ids beyond the vocabulary
  ParquetCells c(data("gzip_dict_v1.parquet"));
  try {
    c.block(0, 100);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("outside the vocabulary's 0..99"), std::string::npos) << e.what();
  }
}

TEST(Parquet, DamagedFilesAreRefusedNeverCrash) {
  std::ifstream in(data("snappy_dict_v1.parquet"), std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  parquet_check_buffer(reinterpret_cast<const uint8_t*>(good.data()), good.size());  // the intact file passes
  auto refused = [](const std::string& bytes) {
    try {
      parquet_check_buffer(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const FormatError&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(refused(good.substr(0, good.size() / 2)));   // cut short
  EXPECT_TRUE(refused("PAR1PAR1"));
  std::string no_magic = good;
  no_magic[no_magic.size() - 1] = 'X';
  EXPECT_TRUE(refused(no_magic));
  // every single byte of the footer flipped in turn: refused or read, never a crash
  const size_t meta_len = static_cast<unsigned char>(good[good.size() - 8]) | static_cast<unsigned char>(good[good.size() - 7]) << 8;
  int refusals = 0;
  for (size_t k = good.size() - 8 - meta_len; k < good.size() - 8; ++k) {
    std::string bad = good;
    bad[k] = static_cast<char>(bad[k] ^ 0x5a);
    refusals += refused(bad);
  }
  EXPECT_GT(refusals, 0);
  // found by fuzz/fuzz_parquet.cpp: an empty uncompressed page (a memcpy from a null pointer)
  std::ifstream hostile(test::source_dir() + "/tests/hostile/fuzz-parquet-empty-page.parquet", std::ios::binary);
  const std::string found((std::istreambuf_iterator<char>(hostile)), std::istreambuf_iterator<char>());
  ASSERT_GT(found.size(), 1000u);
  refused(found);  // refused or read; under UBSan (scripts/reliability/sanitize.sh) no report either
  // found by it too: a footer map of 2^60 bool pairs that skipping never finished
  std::ifstream maps(test::source_dir() + "/tests/hostile/fuzz-parquet-map-of-bools.parquet", std::ios::binary);
  const std::string endless((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  ASSERT_GT(endless.size(), 100u);
  EXPECT_TRUE(refused(endless));
  std::ifstream empty_chunk(test::source_dir() + "/tests/hostile/fuzz-parquet-empty-chunk.parquet", std::ios::binary);
  refused(std::string((std::istreambuf_iterator<char>(empty_chunk)), std::istreambuf_iterator<char>()));
  // and every 97th byte of the pages
  for (size_t k = 4; k < good.size() - 8 - meta_len; k += 97) {
    std::string bad = good;
    bad[k] = static_cast<char>(bad[k] ^ 0xff);
    refused(bad);
  }
}

}  // namespace scfm::io
