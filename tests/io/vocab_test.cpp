// Gene vocabularies (scGPT's vocab.json) and gene matching; expected values come from Python's
// json module and anndata (tests/io/vocab_reference.py), or from the inputs themselves.
#include "scfm/io/vocab.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "scfm/io/tenx.h"
#include "test_util.h"

namespace scfm::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

std::string pbmc_h5ad() { return test::real_data("pbmc3k_decoupler.h5ad"); }
std::string pbmc_dir() { return test::real_data("pbmc3k_decoupler_10x"); }

json reference(const std::string& args) {
  test::CommandResult r = test::run_python("io/vocab_reference.py", args);
  if (r.exit_code != 0) throw std::runtime_error("vocab_reference.py " + args + " failed:\n" + r.output);
  std::string out = r.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  size_t nl = out.rfind('\n');
  return json::parse(nl == std::string::npos ? out : out.substr(nl + 1));
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

template <class F> void expect_format_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const FormatError& e) {
    std::string msg = e.what();
    for (auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-FormatError: " << e.what();
    return;
  }
  ADD_FAILURE() << "did not throw";
}

// ---------------------------------------------------------------------------------------------
// Loading

TEST(VocabLoad, AppendsMissingSpecialsInOrder) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, R"({"TP53": 1, "<pad>": 2, "CD3E": 0})");
  Vocab v = Vocab::load(path);
  json ref = reference("tokens " + path);
  EXPECT_EQ(v.tokens(), ref["tokens"].get<std::vector<std::string>>());
  EXPECT_EQ(v.size(), 5);
  EXPECT_EQ(v.token(0), "CD3E");
  EXPECT_EQ(v.id("TP53"), 1);
  EXPECT_EQ(v.pad_id(), 2);
  EXPECT_EQ(v.cls_id(), 3);
  EXPECT_EQ(v.eoc_id(), 4);
  EXPECT_EQ(v.appended_specials(), (std::vector<std::string>{"<cls>", "<eoc>"}));
  EXPECT_EQ(v.id("MS4A1"), -1);
  EXPECT_EQ(v.path(), path);
  EXPECT_THROW(v.token(5), Error);
}

TEST(VocabLoad, KeepsSpecialsAlreadyPresent) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, R"({"<pad>": 0, "<cls>": 1, "<eoc>": 2, "GENE": 3})");
  Vocab v = Vocab::load(path);
  EXPECT_EQ(v.size(), 4);
  EXPECT_TRUE(v.appended_specials().empty());
  EXPECT_EQ(v.pad_id(), 0);
  EXPECT_EQ(v.cls_id(), 1);
}

TEST(VocabLoad, NonConsecutiveIds) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, R"({"A": 0, "B": 1, "C": 3, "D": 4})");
  expect_format_error([&] { Vocab::load(path); }, {path, "id 2", "missing", "consecutive"});
}

TEST(VocabLoad, DuplicateTokens) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  // nlohmann's DOM would silently keep the last "B"
  test::write_text(path, "{\"A\": 0, \"B\": 1,\n \"B\": 2}");
  expect_format_error([&] { Vocab::load(path); }, {path, "\"B\"", "duplicate token", "1 and 2"});
}

TEST(VocabLoad, DuplicateIds) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, R"({"A": 0, "B": 1, "C": 1})");
  expect_format_error([&] { Vocab::load(path); }, {path, "id 1", "\"B\"", "\"C\""});
}

TEST(VocabLoad, NotJson) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, "A 0\nB 1\n");
  expect_format_error([&] { Vocab::load(path); }, {path, "byte", "JSON"});
  test::write_text(path, R"({"A": 0, "B": 1)");  // cut short
  expect_format_error([&] { Vocab::load(path); }, {path, "JSON"});
}

TEST(VocabLoad, WrongShapes) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, R"(["A", "B"])");
  expect_format_error([&] { Vocab::load(path); }, {path, "expected a JSON object"});
  test::write_text(path, R"({"A": 0, "B": "1"})");
  expect_format_error([&] { Vocab::load(path); }, {path, "\"B\"", "integer id"});
  test::write_text(path, R"({"A": 0, "B": 1.5})");
  expect_format_error([&] { Vocab::load(path); }, {path, "\"B\"", "integer id"});
  test::write_text(path, R"({"A": -1})");
  expect_format_error([&] { Vocab::load(path); }, {path, "\"A\"", "negative"});
  expect_format_error([&] { Vocab::load(dir / "absent.json"); }, {dir / "absent.json", "cannot open"});
}

// ---------------------------------------------------------------------------------------------
// Building, saving, checksums

TEST(VocabBuild, UnionInFirstSeenOrderSpecialsLast) {
  Vocab v = Vocab::build({{"CD3E", "MS4A1", "CD3E", ""}, {"LYZ", "MS4A1", "<cls>", "NKG7"}});
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"CD3E", "MS4A1", "LYZ", "NKG7", "<pad>", "<cls>", "<eoc>"}));
  EXPECT_EQ(v.appended_specials().size(), 3u);
}

TEST(VocabBuild, SaveLoadRoundTrip) {
  TempDir dir;
  AnnData ad = read_10x_mtx(pbmc_dir());
  Vocab v = Vocab::build({ad.var_names(), {"EXTRA_GENE", "ünïcode\"quote"}});
  const std::string path = dir / "vocab.json";
  v.save(path);
  EXPECT_EQ(list_dir(dir.path()), (std::set<std::string>{"vocab.json"})) << "no temporary file may remain";
  // Python's json module reads the same tokens and ids
  json ref = reference("tokens " + path);
  EXPECT_EQ(ref["tokens"].get<std::vector<std::string>>(), v.tokens());
  Vocab back = Vocab::load(path);
  EXPECT_EQ(back.tokens(), v.tokens());
  EXPECT_TRUE(back.appended_specials().empty());
  EXPECT_EQ(back.checksum(), v.checksum());
  EXPECT_EQ(back.size(), static_cast<int64_t>(ad.var_names().size()) + 2 + 3);
}

TEST(VocabBuild, SaveIsAtomic) {
  TempDir dir;
  Vocab v = Vocab::build({{"A", "B"}});
  EXPECT_THROW(v.save(dir / "no_such_folder/vocab.json"), Error);
  EXPECT_FALSE(fs::exists(dir / "no_such_folder"));
  // replacing an existing file leaves either the old or the new one, never a mix or a temp
  const std::string path = dir / "vocab.json";
  test::write_text(path, "old");
  v.save(path);
  EXPECT_EQ(Vocab::load(path).tokens(), v.tokens());
  EXPECT_EQ(list_dir(dir.path()), (std::set<std::string>{"vocab.json"}));
}

TEST(VocabBuild, ChecksumStableAndDistinct) {
  TempDir dir;
  Vocab a = Vocab::build({{"CD3E", "MS4A1", "LYZ"}});
  Vocab b = Vocab::build({{"CD3E", "LYZ", "MS4A1"}});  // same genes, other order
  Vocab c = Vocab::build({{"CD3E", "MS4A1", "LYZ", "NKG7"}});
  EXPECT_EQ(a.checksum().size(), 16u);
  EXPECT_EQ(a.checksum(), Vocab::build({{"CD3E", "MS4A1"}, {"LYZ"}}).checksum());
  EXPECT_NE(a.checksum(), b.checksum());
  EXPECT_NE(a.checksum(), c.checksum());
  // the same digest computed independently in Python (FNV-1a 64, tokens + NUL)
  for (const Vocab* v : {&a, &c}) {
    const std::string path = dir / "v.json";
    v->save(path);
    EXPECT_EQ(v->checksum(), reference("tokens " + path)["checksum"].get<std::string>());
  }
}

// ---------------------------------------------------------------------------------------------
// Gene matching

TEST(VocabMatch, Pbmc3kAgainstHalfItsGenes) {
  json ref = reference("var " + pbmc_h5ad());
  auto genes = ref["var_names"].get<std::vector<std::string>>();
  std::vector<std::string> half;
  for (size_t i = 0; i < genes.size(); i += 2) half.push_back(genes[i]);
  Vocab v = Vocab::build({half});

  AnnData ad = read_h5ad(pbmc_h5ad());
  GeneMatch m = match_genes(v, ad);
  EXPECT_EQ(m.n_matched, static_cast<int64_t>(half.size()));
  EXPECT_EQ(m.n_unmatched, static_cast<int64_t>(genes.size() - half.size()));
  ASSERT_EQ(m.var_to_id.size(), genes.size());
  for (size_t i = 0; i < genes.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_EQ(m.var_to_id[i], static_cast<int32_t>(i / 2));
      EXPECT_EQ(v.token(m.var_to_id[i]), genes[i]);
    } else {
      EXPECT_EQ(m.var_to_id[i], -1);
    }
  }
  ASSERT_FALSE(m.unmatched_examples.empty());
  EXPECT_EQ(m.unmatched_examples[0], genes[1]);

  // a var column, and the same cells as a 10x folder
  GeneMatch by_col = match_genes(v, ad, "gene_symbols");
  EXPECT_EQ(by_col.n_matched, m.n_matched);
  GeneMatch mex = match_genes(v, read_10x_mtx(pbmc_dir()));
  EXPECT_EQ(mex.n_matched, m.n_matched);
  EXPECT_EQ(mex.var_to_id, m.var_to_id);
}

TEST(VocabMatch, SpecialsNeverMatch) {
  TempDir dir;
  test::write_text(dir / "matrix.mtx", "%%MatrixMarket matrix coordinate integer general\n2 1 1\n1 1 3\n");
  test::write_text(dir / "genes.tsv", "g1\t<pad>\ng2\tGENE\n");
  test::write_text(dir / "barcodes.tsv", "AAA-1\n");
  Vocab v = Vocab::build({{"GENE"}});
  GeneMatch m = match_genes(v, read_10x_mtx(dir.path()));
  EXPECT_EQ(m.var_to_id, (std::vector<int32_t>{-1, 0}));
  EXPECT_EQ(m.n_unmatched, 1);
}

TEST(VocabMatch, MissingColumnListsTheColumns) {
  json ref = reference("var " + pbmc_h5ad());
  AnnData ad = read_h5ad(pbmc_h5ad());
  Vocab v = Vocab::build({{"CD3E"}});
  std::vector<std::string> parts{pbmc_h5ad(), "/var/gene_name"};
  for (auto& c : ref["var_columns"].get<std::vector<std::string>>()) parts.push_back(c);
  expect_format_error([&] { match_genes(v, ad, "gene_name"); }, parts);
}

// ---------------------------------------------------------------------------------------------
// scfm vocab build | info | match

TEST(VocabCli, BuildInfoMatch) {
  TempDir dir;
  const std::string out = dir / "vocab.json";
  test::CommandResult r = test::run_command(test::scfm_binary() + " vocab build " + pbmc_dir() + " " + pbmc_h5ad() +
                                            " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json ref = reference("var " + pbmc_h5ad());
  const int64_t n_genes = static_cast<int64_t>(ref["var_names"].size());
  EXPECT_NE(r.output.find(std::to_string(n_genes + 3) + " tokens"), std::string::npos) << r.output;
  EXPECT_EQ(reference("tokens " + out)["tokens"].size(), static_cast<size_t>(n_genes + 3));

  r = test::run_command(test::scfm_binary() + " vocab info " + out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json info = json::parse(r.output);
  EXPECT_EQ(info["size"].get<int64_t>(), n_genes + 3);
  EXPECT_EQ(info["checksum"], reference("tokens " + out)["checksum"]);
  EXPECT_TRUE(info["specials"]["<pad>"]["in_file"].get<bool>());

  r = test::run_command(test::scfm_binary() + " vocab match " + out + " " + pbmc_h5ad() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json match = json::parse(r.output);
  EXPECT_EQ(match["n_matched"].get<int64_t>(), n_genes);
  EXPECT_EQ(match["n_unmatched"].get<int64_t>(), 0);
}

TEST(VocabCli, BuildFailsCleanlyOnBadInput) {
  TempDir dir;
  fs::create_directory(dir / "bad10x");
  for (const char* f : {"matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz"})
    fs::copy_file(pbmc_dir() + "/" + f, dir / (std::string("bad10x/") + f));
  fs::resize_file(dir / "bad10x/matrix.mtx.gz", fs::file_size(dir / "bad10x/matrix.mtx.gz") / 2);
  test::CommandResult r =
      test::run_command(test::scfm_binary() + " vocab build " + (dir / "bad10x") + " --out " + (dir / "vocab.json"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("matrix.mtx.gz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  EXPECT_EQ(list_dir(dir.path()), (std::set<std::string>{"bad10x"})) << "nothing half-written may remain";

  r = test::run_command(test::scfm_binary() + " vocab match " + (dir / "absent.json") + " " + pbmc_h5ad());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("absent.json"), std::string::npos) << r.output;
}

// Found by fuzz/fuzz_vocab.cpp: invalid UTF-8 inside a token made the error message's own JSON
// quoting throw inside the parser's callback, which ended the process (std::terminate).
TEST(VocabLoad, InvalidUtf8IsAFormatError) {
  TempDir dir;
  const std::string path = dir / "vocab.json";
  test::write_text(path, std::string("{\"GENE0\": 0, \"GE\xb1NE1\": 1}"));
  expect_format_error([&] { Vocab::load(path); }, {path, "JSON"});
}

// Vocab::parse (the fuzz harness's entry point) reads text as load reads the file, with the same checks.
TEST(VocabLoad, ParseOfTextMatchesLoadOfTheFile) {
  const std::string text = R"({"TP53": 1, "<pad>": 2, "CD3E": 0})";
  Vocab v = Vocab::parse(text, "given.json");
  EXPECT_EQ(v.tokens(), (std::vector<std::string>{"CD3E", "TP53", "<pad>", "<cls>", "<eoc>"}));
  EXPECT_EQ(v.path(), "given.json");
  expect_format_error([&] { Vocab::parse(R"({"A": 0, "B": 1, "C": 1})", "given.json"); }, {"given.json", "id 1", "\"C\""});
  expect_format_error([&] { Vocab::parse(R"({"A": 0, "B": 1)", "given.json"); }, {"given.json", "JSON"});
  expect_format_error([&] { Vocab::parse(std::string("{\"GE\xb1NE1\": 0}"), "given.json"); }, {"given.json", "JSON"});
}

}  // namespace
}  // namespace scfm::io
