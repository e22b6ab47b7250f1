// The store's files on hostile input: checksums against zlib (via Python), verify naming the
// shard and byte of a flipped byte, incomplete stores (interrupted ingests, truncated or missing
// shards, broken manifests) refused by open(), and a writer killed mid-way leaving nothing
// that opens. Each test builds its store from pbmc_small, then damages it.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "scfm/io/h5ad.h"
#include "scfm/store/checksum.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"
#include "scfm/store/verify.h"
#include "scfm/store/writer.h"
#include "store_test_util.h"
#include "test_util.h"

namespace scfm::store {
namespace {

using testing::pbmc_small;
using testing::expect_error;

namespace fs = std::filesystem;
using Json = nlohmann::json;


io::Vocab small_vocab() { return io::Vocab::build({io::read_h5ad(pbmc_small(), {0}).var_names()}); }

// pbmc_small in shards of 30 cells: 30 + 30 + 20.
std::string make_store(const test::TempDir& tmp, const std::string& name = "s") {
  IngestOptions o;
  o.shard_cells = 30;
  ingest({pbmc_small()}, small_vocab(), tmp / name, o);
  return tmp / name;
}

void flip_byte(const std::string& file, int64_t offset, uint8_t mask = 0x01) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  c = static_cast<char>(c ^ static_cast<char>(mask));
  f.seekp(offset);
  f.put(c);
}

TEST(Checksum, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the CRC-32 catalogue's check value
  BlockCrc b(4);
  b.update("1234", 4);
  b.update("56789", 5);
  b.finish();
  EXPECT_EQ(b.whole(), 0xCBF43926u);
  EXPECT_EQ(b.blocks(), block_crc32("123456789", 9, 4));
  EXPECT_EQ(b.blocks().size(), 3u);
}

TEST(Checksum, LocatesASingleChangedByte) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<uint8_t> buf(1 + rng() % 70000);
    for (auto& x : buf) x = static_cast<uint8_t>(rng());
    const uint32_t before = crc32(buf.data(), buf.size());
    const size_t at = rng() % buf.size();
    buf[at] ^= static_cast<uint8_t>(1 + rng() % 255);
    const uint32_t after = crc32(buf.data(), buf.size());
    const auto found = locate_single_byte_change(before, after, buf.size());
    ASSERT_TRUE(found.has_value()) << "trial " << trial;
    EXPECT_EQ(*found, at) << "trial " << trial;
  }
  EXPECT_FALSE(locate_single_byte_change(5, 5, 100).has_value());
}

TEST(Store, ManifestChecksumsAgreeWithZlib) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const Json m = Json::parse(test::read_text(s + "/manifest.json"));
  ASSERT_EQ(m["shards"].size(), 3u);
  for (const auto& sh : m["shards"]) {
    const std::string file = s + "/" + sh["file"].get<std::string>();
    const auto r = test::run_command(std::string(SCFM_PYTHON) + " -c \"import zlib,sys; d=open('" + file +
                                     "','rb').read(); print(len(d), zlib.crc32(d), [zlib.crc32(d[i:i+65536]) for i in "
                                     "range(0, len(d), 65536)])\"");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::string blocks;
    for (const auto& b : sh["block_crc32"]) blocks += (blocks.empty() ? "" : ", ") + std::to_string(b.get<uint64_t>());
    EXPECT_EQ(r.output, std::to_string(sh["bytes"].get<int64_t>()) + " " + std::to_string(sh["crc32"].get<uint64_t>()) + " [" +
                            blocks + "]\n");
  }
}

TEST(Store, ShardFileLayoutIsAsDocumented) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const std::string bytes = test::read_text(s + "/shard_00002.bin");
  ASSERT_GE(bytes.size(), 64u);
  EXPECT_EQ(bytes.substr(0, 8), "SCFMSHRD");
  auto i64 = [&](size_t off) {
    int64_t v;
    std::memcpy(&v, bytes.data() + off, 8);
    return v;
  };
  uint32_t version;
  std::memcpy(&version, bytes.data() + 8, 4);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(i64(16), 20);  // n_cells of the last shard
  const int64_t nnz = i64(24);
  for (size_t off = 32; off < 64; off += 8) EXPECT_EQ(i64(off) % 64, 0) << "section at header byte " << off;
  EXPECT_EQ(i64(32), 64);                        // indptr right after the header
  EXPECT_EQ(i64(i64(32)), 0);                    // indptr[0]
  EXPECT_EQ(i64(i64(32) + 8 * 20), nnz);         // indptr[n_cells]
}

TEST(Store, VerifyNamesTheShardAndOffsetOfAFlippedByte) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  ASSERT_TRUE(verify_store(s).ok());
  const int64_t offset = 1000;
  flip_byte(s + "/shard_00001.bin", offset, 0x40);
  const VerifyReport r = verify_store(s);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].shard, 1);
  EXPECT_EQ(r.problems[0].file, "shard_00001.bin");
  EXPECT_EQ(r.problems[0].offset, offset);

  // The CLI: non-zero exit, one line naming shard and offset.
  const auto cli = test::run_command(test::scfm_binary() + " store verify " + s);
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_NE(cli.output.find("shard 1 (shard_00001.bin) offset 1000"), std::string::npos) << cli.output;

  flip_byte(s + "/shard_00001.bin", offset, 0x40);  // restored
  EXPECT_TRUE(verify_store(s).ok());
  EXPECT_EQ(test::run_command(test::scfm_binary() + " store verify " + s).exit_code, 0);
}

TEST(Store, InfoJsonFromTheCli) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const auto r = test::run_command(test::scfm_binary() + " store info " + s + " --json 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_EQ(j["n_cells"], 80);                // pbmc_small: 80 cells
  EXPECT_EQ(j["n_genes_vocab"], 230 + 3);     // 230 genes + 3 specials
  EXPECT_EQ(j["n_shards"], 3);
  const io::CsrMatrix x = io::read_h5ad(pbmc_small()).matrix_csr();
  int64_t nonzero = 0;
  for (float v : x.data) nonzero += v != 0.0f;
  EXPECT_EQ(j["nnz"], nonzero);
  EXPECT_EQ(j["obs_columns"], Json::array({"dataset", "barcode"}));
}

TEST(Store, IngestCliRoundTrip) {
  test::TempDir tmp;
  small_vocab().save(tmp / "v.json");
  const auto r = test::run_command(test::scfm_binary() + " ingest " + pbmc_small() + " --vocab " + (tmp / "v.json") + " --out " +
                                   (tmp / "s") + " --shard-cells 50 --obs-cols groups,RNA_snn_res_1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CellStore s = CellStore::open(tmp / "s");
  EXPECT_EQ(s.n_cells(), 80);
  EXPECT_EQ(s.n_shards(), 2);
  EXPECT_EQ(s.obs_columns(), (std::vector<std::string>{"dataset", "barcode", "groups", "RNA_snn_res_1"}));
  const io::AnnData a = io::read_h5ad(pbmc_small(), {0});
  const auto res = io::column_strings(a.obs(), "RNA_snn_res_1");
  for (int64_t i = 0; i < 80; ++i) EXPECT_EQ(s.obs("RNA_snn_res_1", i), res[i]);
  // An error is one line and a non-zero exit.
  const auto bad = test::run_command(test::scfm_binary() + " ingest " + pbmc_small() + " --vocab " + (tmp / "v.json") +
                                     " --out " + (tmp / "t") + " --obs-cols nope");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("nope"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(tmp / "t"));
}

TEST(Store, WithoutManifestIsNotComplete) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  fs::remove(s + "/manifest.json");
  expect_error([&] { CellStore::open(s); }, {"not a complete cell store", "manifest.json"});
  expect_error([&] { verify_store(s); }, {"not a complete cell store"});
  expect_error([&] { CellStore::open(tmp / "nothing_here"); }, {"nothing_here"});
}

TEST(Store, TruncatedOrMissingShardIsRefused) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  fs::resize_file(s + "/shard_00001.bin", fs::file_size(s + "/shard_00001.bin") - 1);
  expect_error([&] { CellStore::open(s); }, {"shard_00001.bin", "bytes"});
  fs::remove(s + "/shard_00001.bin");
  expect_error([&] { CellStore::open(s); }, {"shard_00001.bin", "missing"});
  const VerifyReport r = verify_store(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].shard, 1);
}

TEST(Store, BrokenManifestsAreRefusedNamingTheKey) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const std::string path = s + "/manifest.json";
  const Json good = Json::parse(test::read_text(path));
  auto with = [&](const std::function<void(Json&)>& edit) {
    Json j = good;
    edit(j);
    test::write_text(path, j.dump());
  };
  with([](Json& j) { j["format_version"] = 2; });
  expect_error([&] { CellStore::open(s); }, {"manifest.json", "format_version", "2"});
  with([](Json& j) { j["n_cells"] = 81; });
  expect_error([&] { CellStore::open(s); }, {"n_cells", "80"});
  with([](Json& j) { j["shards"][1].erase("bytes"); });
  expect_error([&] { CellStore::open(s); }, {"shards[1].bytes", "missing"});
  with([](Json& j) { j["shards"][0]["file"] = "../elsewhere.bin"; });
  expect_error([&] { CellStore::open(s); }, {"shards[0].file"});
  with([](Json& j) { j["shards"][0]["n_cells"] = 31; j["shards"][1]["n_cells"] = 29; });
  expect_error([&] { CellStore::open(s); }, {"shard_00000.bin", "header"});
  test::write_text(path, "{\"format\": \"scfm-cell-store\", ");
  expect_error([&] { CellStore::open(s); }, {"manifest.json", "JSON"});
  test::write_text(path, good.dump());
  EXPECT_EQ(CellStore::open(s).n_cells(), 80);
}

TEST(Store, BadShardHeaderIsRefused) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  flip_byte(s + "/shard_00002.bin", 0);  // magic
  expect_error([&] { CellStore::open(s); }, {"shard_00002.bin", "magic"});
  flip_byte(s + "/shard_00002.bin", 0);
  flip_byte(s + "/shard_00002.bin", 40, 0x10);  // ids_offset no longer fits / aligned
  expect_error([&] { CellStore::open(s); }, {"shard_00002.bin", "ids_offset"});
}

// open() does no per-cell work: a corrupted indptr inside a shard is not seen by open(), only by
// the row that uses it (an error, not a crash) and by verify.
TEST(Store, OpenReadsNoCellsAndRowsCheckTheirBounds) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const int64_t local = 5;
  const int64_t huge = int64_t(1) << 40;
  {
    std::fstream f(s + "/shard_00001.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64 + 8 * (local + 1));
    f.write(reinterpret_cast<const char*>(&huge), 8);
  }
  const CellStore st = CellStore::open(s);
  expect_error([&] { st.row(30 + local); }, {"shard_00001.bin", "indptr[5]", "verify"});
  EXPECT_NO_THROW(st.row(30 + local + 2));
  EXPECT_NO_THROW(st.row(0));
  // Eight changed bytes: verify names the shard and the block (its first byte).
  const VerifyReport r = verify_store(s);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].shard, 1);
  EXPECT_EQ(r.problems[0].offset, 0);
  EXPECT_NE(r.problems[0].what.find("block 0"), std::string::npos) << r.problems[0].what;

  // With the checksums made to match (a bug in a writer, not a disk error), the structural
  // check still finds the bad entry and names its byte.
  Json m = Json::parse(test::read_text(s + "/manifest.json"));
  const std::string bytes = test::read_text(s + "/shard_00001.bin");
  m["shards"][1]["crc32"] = crc32(bytes.data(), bytes.size());
  m["shards"][1]["block_crc32"] = block_crc32(bytes.data(), bytes.size(), 65536);
  test::write_text(s + "/manifest.json", m.dump());
  const VerifyReport r2 = verify_store(s);
  ASSERT_EQ(r2.problems.size(), 1u);
  EXPECT_EQ(r2.problems[0].shard, 1);
  EXPECT_EQ(r2.problems[0].offset, 64 + 8 * (local + 1));
  EXPECT_NE(r2.problems[0].what.find("row 5"), std::string::npos) << r2.problems[0].what;
}

TEST(Writer, RejectsRowsThatBreakTheContract) {
  test::TempDir tmp;
  const io::Vocab v = io::Vocab::from_tokens({"A", "B", "C"});  // + 3 specials: ids 0..5
  StoreWriter w(tmp / "s", v, {"barcode"});
  const int32_t unsorted[] = {2, 1};
  const int32_t dup[] = {1, 1};
  const int32_t out_of_range[] = {6};
  const int32_t ok[] = {0, 2};
  const float vals[] = {1.0f, 2.0f};
  const float zero[] = {0.0f};
  expect_error([&] { w.add(unsorted, vals, 2, {"c"}); }, {"cell 0", "ascending"});
  expect_error([&] { w.add(dup, vals, 2, {"c"}); }, {"ascending"});
  expect_error([&] { w.add(out_of_range, vals, 1, {"c"}); }, {"gene id 6", "[0, 6)"});
  expect_error([&] { w.add(ok, zero, 1, {"c"}); }, {"explicit zero"});
  expect_error([&] { w.add(ok, vals, 2, {}); }, {"obs values"});
  w.add(ok, vals, 2, {"c"});
  w.add(ok + 1, vals + 1, 1, {""});
  w.commit();
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_EQ(s.n_cells(), 2);
  EXPECT_EQ(s.row(1).n, 1);
  EXPECT_EQ(s.row(1).ids[0], 2);
  EXPECT_EQ(s.row(1).values[0], 2.0f);
  EXPECT_EQ(s.obs("barcode", 0), "c");
  EXPECT_EQ(s.obs("barcode", 1), "");
}

TEST(Writer, AStoreWithoutCellsOpens) {
  test::TempDir tmp;
  StoreWriter w(tmp / "s", io::Vocab::from_tokens({"A"}), {"barcode"});
  w.commit();
  const CellStore s = CellStore::open(tmp / "s");
  EXPECT_EQ(s.n_cells(), 0);
  EXPECT_EQ(s.n_shards(), 0);
  EXPECT_THROW(s.row(0), Error);
  EXPECT_TRUE(verify_store(tmp / "s").ok());
}

TEST(Ingest, DatasetNamesFromTheCaller) {
  test::TempDir tmp;
  IngestOptions o;
  o.dataset_names = {"a", "a"};  // made unique: a, a-1
  ingest({pbmc_small(), pbmc_small()}, small_vocab(), tmp / "s", o);
  const CellStore s = CellStore::open(tmp / "s");
  ASSERT_EQ(s.n_cells(), 160);
  EXPECT_EQ(s.obs("dataset", 79), "a");
  EXPECT_EQ(s.obs("dataset", 80), "a-1");
  EXPECT_EQ(s.obs("barcode", 0), s.obs("barcode", 80));
  o.dataset_names = {"only_one"};
  expect_error([&] { ingest({pbmc_small(), pbmc_small()}, small_vocab(), tmp / "t", o); }, {"1 dataset names for 2 inputs"});
}

TEST(Writer, AbandonedWriterLeavesNothing) {
  test::TempDir tmp;
  const io::Vocab v = io::Vocab::from_tokens({"A", "B"});
  {
    StoreWriterOptions o;
    o.shard_cells = 1;
    StoreWriter w(tmp / "s", v, {}, o);
    const int32_t id = 1;
    const float x = 3.0f;
    w.add(&id, &x, 1, {});
    w.add(&id, &x, 1, {});
    EXPECT_TRUE(fs::exists(w.temp_path() + "/shard_00001.bin"));
  }
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

// A writer killed mid-way (no destructors run): its temporary folder stays, holds shards but no
// manifest, and neither it nor the target opens as a store.
TEST(Writer, KilledWriterLeavesNothingThatOpens) {
  test::TempDir tmp;
  const io::Vocab v = io::Vocab::from_tokens({"A", "B"});
  const std::string target = tmp / "s";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    StoreWriterOptions o;
    o.shard_cells = 2;
    StoreWriter w(target, v, {"barcode"}, o);
    const int32_t id = 1;
    const float x = 3.0f;
    for (int i = 0; i < 5; ++i) w.add(&id, &x, 1, {"c"});
    ::_exit(0);  // as if killed: no commit, no cleanup
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const std::string leftover = target + ".tmp." + std::to_string(pid);
  ASSERT_TRUE(fs::exists(leftover + "/shard_00001.bin"));
  EXPECT_FALSE(fs::exists(target));
  expect_error([&] { CellStore::open(target); }, {"not a cell store"});
  expect_error([&] { CellStore::open(leftover); }, {"not a complete cell store"});
}

// The real CLI killed (SIGKILL) at many moments during an ingest of 80 one-cell shards: the target
// is either absent or a store that opens and verifies.
TEST(Writer, IngestKilledAtAnyMomentNeverLeavesAHalfStore) {
  test::TempDir tmp;
  small_vocab().save(tmp / "v.json");
  int complete = 0, absent = 0;
  for (int delay_ms : {0, 5, 10, 20, 30, 40, 60, 80, 120, 200, 400}) {
    const std::string target = tmp / ("s" + std::to_string(delay_ms));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::execl(test::scfm_binary().c_str(), "scfm", "ingest", pbmc_small().c_str(), "--vocab", (tmp / "v.json").c_str(), "--out",
              target.c_str(), "--shard-cells", "1", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::usleep(static_cast<useconds_t>(delay_ms) * 1000);
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!fs::exists(target)) {
      ++absent;
      expect_error([&] { CellStore::open(target); }, {"not a cell store"});
      continue;
    }
    ++complete;
    const CellStore s = CellStore::open(target);
    EXPECT_EQ(s.n_cells(), 80);
    EXPECT_TRUE(verify_store(target).ok()) << target;
  }
  EXPECT_EQ(complete + absent, 11);
  std::cout << "killed ingests: " << absent << " left no store, " << complete << " had finished\n";
}

// Found by fuzz/fuzz_manifest.cpp: a number too large for 64 bits ("crc32": 305E419896) threw
// nlohmann's out_of_range, which escaped the parse-error handler.
TEST(Store, ManifestNumberOutOfRangeIsAFormatError) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  std::string text = test::read_text(s + "/manifest.json");
  const size_t at = text.find("\"crc32\":");
  ASSERT_NE(at, std::string::npos);
  const size_t end = text.find_first_of(",}", at);
  text.replace(at, end - at, "\"crc32\": 305E419896");
  test::write_text(s + "/manifest.json", text);
  expect_error([&] { CellStore::open(s); }, {"manifest.json", "not valid JSON"});
}

// Manifest::parse (the fuzz harness's entry point) applies load's checks to text.
TEST(Store, ManifestParseOfTextMatchesLoadOfTheFile) {
  test::TempDir tmp;
  const std::string s = make_store(tmp);
  const std::string text = test::read_text(s + "/manifest.json");
  const Manifest loaded = Manifest::load(s), parsed = Manifest::parse(text, "given.json");
  EXPECT_EQ(parsed.n_cells, loaded.n_cells);
  EXPECT_EQ(parsed.nnz, loaded.nnz);
  ASSERT_EQ(parsed.shards.size(), loaded.shards.size());
  EXPECT_EQ(parsed.shards[0].crc32, loaded.shards[0].crc32);
  std::string bad = text;
  bad.replace(bad.find("\"n_cells\""), 9, "\"n_cellz\"");
  expect_error([&] { Manifest::parse(bad, "given.json"); }, {"given.json", "n_cells"});
}

}  // namespace
}  // namespace scfm::store
