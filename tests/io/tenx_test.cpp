// 10x readers (MEX folders, Cell Ranger 3 and legacy 2 .h5) against the real clients: every
// expected number comes from tests/io/tenx_reference.py (scipy.io.mmread, h5py, anndata).
#include "scfm/io/tenx.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "test_util.h"

namespace scfm::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::TempDir;

std::string pbmc_dir() { return test::real_data("pbmc3k_decoupler_10x"); }
std::string pbmc_h5ad() { return test::real_data("pbmc3k_decoupler.h5ad"); }
std::string tiny_dir() { return test::real_data("cellranger3_tiny_10x"); }
std::string visium_h5() { return test::real_data("visium_mouse_brain_10x/filtered_feature_bc_matrix.h5"); }

// Runs tenx_reference.py and parses the JSON it prints (its last line).
json reference(const std::string& args) {
  test::CommandResult r = test::run_python("io/tenx_reference.py", args);
  if (r.exit_code != 0) throw std::runtime_error("tenx_reference.py " + args + " failed:\n" + r.output);
  std::string out = r.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  size_t nl = out.rfind('\n');
  return json::parse(nl == std::string::npos ? out : out.substr(nl + 1));
}

void run_reference(const std::string& args) {
  test::CommandResult r = test::run_python("io/tenx_reference.py", args);
  if (r.exit_code != 0) throw std::runtime_error("tenx_reference.py " + args + " failed:\n" + r.output);
}

std::string q(const std::string& s) { return "'" + s + "'"; }

std::vector<std::string> var_column(const AnnData& ad, const std::string& name) {
  return column_strings(ad.var(), name);
}

// Compares a reader's AnnData with a tenx_reference.py summary.
void expect_matches(const AnnData& ad, const json& ref) {
  const int64_t n_cells = ref["shape"][0], n_genes = ref["shape"][1];
  ASSERT_EQ(ad.n_obs(), n_cells);
  ASSERT_EQ(ad.n_vars(), n_genes);
  CsrMatrix x = ad.matrix_csr();
  ASSERT_EQ(x.n_rows, n_cells);
  ASSERT_EQ(x.n_cols, n_genes);
  EXPECT_EQ(ad.matrix().child("data")->data.dtype, DType::F32);
  int64_t nonzero = 0;
  for (float v : x.data) nonzero += v != 0.0f;
  EXPECT_EQ(nonzero, ref["nnz"].get<int64_t>());
  std::vector<double> sums = x.row_sums();
  auto ref_sums = ref["cell_sums"].get<std::vector<double>>();
  ASSERT_EQ(sums.size(), ref_sums.size());
  for (size_t i = 0; i < sums.size(); ++i) EXPECT_DOUBLE_EQ(sums[i], ref_sums[i]) << "cell " << i;
  EXPECT_EQ(ad.obs_names(), ref["barcodes"].get<std::vector<std::string>>());
  EXPECT_EQ(ad.var_names(), ref["var_names"].get<std::vector<std::string>>());
  EXPECT_EQ(var_column(ad, "gene_ids"), ref["gene_ids"].get<std::vector<std::string>>());
  if (ref["feature_types"].is_null()) {
    EXPECT_EQ(ad.var().child("feature_types"), nullptr);
  } else {
    EXPECT_EQ(var_column(ad, "feature_types"), ref["feature_types"].get<std::vector<std::string>>());
  }
  // CSR invariants: sorted, in range
  for (int64_t r = 0; r < x.n_rows; ++r)
    for (int64_t k = x.indptr[r]; k < x.indptr[r + 1]; ++k) {
      ASSERT_TRUE(x.indices[k] >= 0 && x.indices[k] < x.n_cols);
      if (k > x.indptr[r]) ASSERT_LT(x.indices[k - 1], x.indices[k]);
    }
}

// The same values per cell in `a` and `b` after matching barcodes and gene names.
void expect_same_matrix(const AnnData& a, const AnnData& b) {
  ASSERT_EQ(a.n_obs(), b.n_obs());
  ASSERT_EQ(a.n_vars(), b.n_vars());
  std::unordered_map<std::string, int64_t> b_row, b_col;
  auto bo = b.obs_names(), bv = b.var_names();
  for (size_t i = 0; i < bo.size(); ++i) b_row[bo[i]] = static_cast<int64_t>(i);
  for (size_t i = 0; i < bv.size(); ++i) b_col[bv[i]] = static_cast<int64_t>(i);
  auto ao = a.obs_names(), av = a.var_names();
  std::vector<int64_t> col_map(av.size());
  for (size_t j = 0; j < av.size(); ++j) {
    auto it = b_col.find(av[j]);
    ASSERT_NE(it, b_col.end()) << "gene " << av[j] << " missing from " << b.path;
    col_map[j] = it->second;
  }
  CsrMatrix xa = a.matrix_csr(), xb = b.matrix_csr();
  int64_t compared = 0;
  for (int64_t r = 0; r < xa.n_rows; ++r) {
    auto it = b_row.find(ao[r]);
    ASSERT_NE(it, b_row.end()) << "barcode " << ao[r] << " missing from " << b.path;
    const int64_t rb = it->second;
    std::map<int64_t, float> row_a, row_b;
    for (int64_t k = xa.indptr[r]; k < xa.indptr[r + 1]; ++k)
      if (xa.data[k] != 0.0f) row_a[col_map[xa.indices[k]]] = xa.data[k];
    for (int64_t k = xb.indptr[rb]; k < xb.indptr[rb + 1]; ++k)
      if (xb.data[k] != 0.0f) row_b[xb.indices[k]] = xb.data[k];
    ASSERT_EQ(row_a, row_b) << "cell " << ao[r];
    compared += static_cast<int64_t>(row_a.size());
  }
  EXPECT_GT(compared, 0);
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// Expects `f` to throw a FormatError whose message contains every one of `parts`.
template <class F> std::string expect_format_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const FormatError& e) {
    std::string msg = e.what();
    for (auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message lacks " << q(p) << ": " << msg;
    return msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-FormatError: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

// ---------------------------------------------------------------------------------------------
// MEX folders

TEST(TenxMtx, Pbmc3kMatchesScipy) {
  AnnData ad = read_10x_mtx(pbmc_dir());
  EXPECT_EQ(ad.path, pbmc_dir());
  expect_matches(ad, reference("mtx " + pbmc_dir()));
  EXPECT_TRUE(is_10x_mtx_dir(pbmc_dir()));
}

TEST(TenxMtx, Pbmc3kSameMatrixAsH5ad) {
  AnnData mex = read_10x_mtx(pbmc_dir());
  AnnData h5ad = read_h5ad(pbmc_h5ad());
  expect_same_matrix(mex, h5ad);
  // and anndata's own view of the .h5ad agrees with the folder, cell by cell
  json ref = reference("h5ad " + pbmc_h5ad());
  EXPECT_EQ(mex.matrix_csr().row_sums(), ref["cell_sums"].get<std::vector<double>>());
}

TEST(TenxMtx, WrittenAsH5adAnndataReadsTheSame) {
  TempDir dir;
  AnnData ad = read_10x_mtx(pbmc_dir());
  write_h5ad(ad, dir / "pbmc.h5ad");
  json from_h5ad = reference("h5ad " + (dir / "pbmc.h5ad"));
  json from_mtx = reference("mtx " + pbmc_dir());
  EXPECT_EQ(from_h5ad["shape"], from_mtx["shape"]);
  EXPECT_EQ(from_h5ad["nnz"], from_mtx["nnz"]);
  EXPECT_EQ(from_h5ad["cell_sums"], from_mtx["cell_sums"]);
  EXPECT_EQ(from_h5ad["barcodes"], from_mtx["barcodes"]);
  EXPECT_EQ(from_h5ad["var_names"], from_mtx["var_names"]);
  expect_same_matrix(read_h5ad(dir / "pbmc.h5ad"), ad);
}

TEST(TenxMtx, CellRanger3MetadataJsonAndFeatureTypes) {
  // the fixture has a %metadata_json comment and two Antibody Capture features
  AnnData gex = read_10x_mtx(tiny_dir());
  expect_matches(gex, reference("mtx " + tiny_dir()));

  TenxOptions all;
  all.feature_type = "";
  AnnData every = read_10x_mtx(tiny_dir(), all);
  expect_matches(every, reference("mtx " + tiny_dir() + " ''"));
  EXPECT_GT(every.n_vars(), gex.n_vars());

  TenxOptions antibody;
  antibody.feature_type = "Antibody Capture";
  expect_matches(read_10x_mtx(tiny_dir(), antibody), reference("mtx " + tiny_dir() + " 'Antibody Capture'"));
}

TEST(TenxMtx, GeneIdsAsIndex) {
  TenxOptions opt;
  opt.gene_symbols = false;
  AnnData ad = read_10x_mtx(tiny_dir(), opt);
  json ref = reference("mtx " + tiny_dir());
  EXPECT_EQ(ad.var_names(), ref["gene_ids"].get<std::vector<std::string>>());
  EXPECT_EQ(var_column(ad, "gene_symbols"), ref["var_names"].get<std::vector<std::string>>());
}

TEST(TenxMtx, LegacyGenesTsvAndDuplicateSymbols) {
  // Cell Ranger 2 layout (genes.tsv: id, name), plain text, with a repeated gene symbol
  TempDir dir;
  test::write_text(dir / "matrix.mtx",
                   "%%MatrixMarket matrix coordinate real general\n% a comment\n4 3 5\n1 1 1.5\n4 1 2\n2 2 3\n"
                   "3 3 0.25\n1 3 7\n");
  test::write_text(dir / "genes.tsv", "ENSG1\tTP53\nENSG2\tTP53\nENSG3\tTP53-1\nENSG4\tMT-CO1\n");
  test::write_text(dir / "barcodes.tsv", "AAA-1\nCCC-1\nGGG-1\n");
  AnnData ad = read_10x_mtx(dir.path());
  json ref = reference("mtx " + dir.path());
  expect_matches(ad, ref);
  EXPECT_EQ(ad.var_names(), (std::vector<std::string>{"TP53", "TP53-2", "TP53-1", "MT-CO1"}));
}

TEST(TenxMtx, MakeUniqueLikeAnndata) {
  std::vector<std::string> names{"A", "A", "A-1", "B", "A", "B", "C"};
  std::string args = "make_unique";
  for (auto& n : names) args += " " + n;
  EXPECT_EQ(make_names_unique(names), reference(args).get<std::vector<std::string>>());
}

// ---------------------------------------------------------------------------------------------
// .h5 files

TEST(TenxH5, V3MadeFromPbmc3kSameAsH5ad) {
  TempDir dir;
  const std::string h5 = dir / "filtered_feature_bc_matrix.h5";
  run_reference("write_v3 " + pbmc_dir() + " " + h5);
  ASSERT_TRUE(is_10x_h5(h5));
  AnnData ad = read_10x_h5(h5);
  EXPECT_EQ(ad.path, h5);
  expect_matches(ad, reference("h5 " + h5));
  expect_same_matrix(ad, read_h5ad(pbmc_h5ad()));
  expect_same_matrix(ad, read_10x_mtx(pbmc_dir()));
  auto genome = var_column(ad, "genome");
  ASSERT_EQ(static_cast<int64_t>(genome.size()), ad.n_vars());
  EXPECT_EQ(genome[0], "GRCh38");
}

TEST(TenxH5, VisiumMatchesH5py) {
  ASSERT_TRUE(is_10x_h5(visium_h5()));
  AnnData ad = read_10x_h5(visium_h5());
  expect_matches(ad, reference("h5 " + visium_h5()));
}

TEST(TenxH5, LegacyV2SingleGenome) {
  TempDir dir;
  const std::string h5 = dir / "legacy.h5";
  run_reference("write_v2 " + pbmc_dir() + " " + h5 + " hg19");
  ASSERT_TRUE(is_10x_h5(h5));
  AnnData ad = read_10x_h5(h5);
  expect_matches(ad, reference("h5 " + h5));
  expect_same_matrix(ad, read_h5ad(pbmc_h5ad()));
  EXPECT_EQ(var_column(ad, "genome").at(0), "hg19");
}

TEST(TenxH5, LegacyV2ChoosesGenome) {
  TempDir dir;
  const std::string h5 = dir / "two_genomes.h5";
  run_reference("write_v2 " + pbmc_dir() + " " + h5 + " hg19 mm10");
  expect_format_error([&] { read_10x_h5(h5); }, {h5, "hg19", "mm10", "genome"});
  TenxOptions opt;
  opt.genome = "mm10";
  expect_matches(read_10x_h5(h5, opt), reference("h5 " + h5 + " mm10"));
  opt.genome = "GRCz11";
  expect_format_error([&] { read_10x_h5(h5, opt); }, {h5, "/GRCz11", "hg19, mm10"});
}

TEST(TenxH5, H5adIsNotA10xH5) {
  EXPECT_FALSE(is_10x_h5(pbmc_h5ad()));
  expect_format_error([&] { read_10x_h5(pbmc_h5ad()); }, {pbmc_h5ad(), "/obs", ".h5ad"});
}

// ---------------------------------------------------------------------------------------------
// read_any

TEST(TenxReadAny, DispatchesOnWhatThePathIs) {
  AnnData a = read_any(pbmc_h5ad());
  EXPECT_NE(a.obs().child("cell_type"), nullptr);  // the .h5ad, not a 10x file
  AnnData b = read_any(pbmc_dir());
  expect_same_matrix(b, a);
  AnnData c = read_any(visium_h5());
  EXPECT_EQ(c.n_vars(), reference("h5 " + visium_h5())["shape"][1].get<int64_t>());

  TempDir dir;
  test::write_text(dir / "notes.txt", "hello\n");
  expect_format_error([&] { read_any(dir / "notes.txt"); }, {dir / "notes.txt", "expected an .h5ad"});
  expect_format_error([&] { read_any(dir / "absent.h5ad"); }, {dir / "absent.h5ad", "no such file"});
  run_reference("write_v3 " + tiny_dir() + " " + (dir / "x.h5"));
  EXPECT_TRUE(is_10x_h5(dir / "x.h5"));
  EXPECT_EQ(read_any(dir / "x.h5").n_obs(), reference("h5 " + (dir / "x.h5"))["shape"][0].get<int64_t>());
  // an HDF5 file that is neither
  run_reference("plain_h5 " + (dir / "other.h5"));
  EXPECT_FALSE(is_10x_h5(dir / "other.h5"));
  expect_format_error([&] { read_any(dir / "other.h5"); }, {dir / "other.h5", "not a 10x .h5", "/matrix"});
  fs::create_directory(dir / "empty");
  EXPECT_FALSE(is_10x_mtx_dir(dir / "empty"));
  expect_format_error([&] { read_any(dir / "empty"); }, {dir / "empty", "matrix.mtx", "barcodes.tsv", "features.tsv"});
  fs::copy_file(tiny_dir() + "/matrix.mtx.gz", dir / "matrix.mtx.gz");
  expect_format_error([&] { read_any(dir / "matrix.mtx.gz"); }, {"matrix.mtx.gz", "folder"});
}

// ---------------------------------------------------------------------------------------------
// Malformed MEX folders: one test per failure, each naming the file and the field.

// A copy of the tiny Cell Ranger 3 folder with `name` (plain text) replacing its .gz file.
struct TinyCopy {
  TempDir dir;
  TinyCopy() {
    for (const char* f : {"matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz"})
      fs::copy_file(tiny_dir() + "/" + f, dir / f);
  }
  std::string text(const std::string& gz_name) const {
    test::CommandResult r = test::run_command("gzip -dc " + tiny_dir() + "/" + gz_name);
    if (r.exit_code != 0) throw std::runtime_error(r.output);
    return r.output;
  }
  // Replaces <name>.gz with a plain <name> holding `content`.
  void replace(const std::string& name, const std::string& content) {
    fs::remove(dir / (name + ".gz"));
    test::write_text(dir / name, content);
  }
  std::string path(const std::string& name) const { return dir / name; }
};

std::string replace_line(const std::string& text, size_t line_no, const std::string& with) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i + 1 == line_no) {
      if (with.empty()) continue;
      out += with + "\n";
    } else {
      out += lines[i] + "\n";
    }
  }
  return out;
}

// The 1-based line of the first line starting with `prefix`.
size_t line_of(const std::string& text, const std::string& prefix) {
  size_t n = 1, start = 0;
  while (start < text.size()) {
    if (text.compare(start, prefix.size(), prefix) == 0) return n;
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    start = nl + 1;
    ++n;
  }
  throw std::runtime_error("no line starts with " + prefix);
}

// Entry lines: not a comment, after the size line.
std::vector<size_t> entry_lines(const std::string& mtx) {
  std::vector<size_t> out;
  size_t n = 0, start = 0;
  bool size_seen = false;
  while (start < mtx.size()) {
    size_t nl = mtx.find('\n', start);
    if (nl == std::string::npos) nl = mtx.size();
    ++n;
    if (mtx[start] != '%') {
      if (size_seen) out.push_back(n);
      size_seen = true;
    }
    start = nl + 1;
  }
  return out;
}

void expect_unchanged(const TinyCopy& t, const std::set<std::string>& before) {
  EXPECT_EQ(list_dir(t.dir.path()), before) << "a failed read must not leave files behind";
}

TEST(TenxMalformed, BadMatrixMarketHeader) {
  TinyCopy t;
  std::string mtx = t.text("matrix.mtx.gz");
  t.replace("matrix.mtx", replace_line(mtx, 1, "%%MatrixMarket matrix array integer general"));
  auto before = list_dir(t.dir.path());
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line 1", "MatrixMarket", "coordinate"});
  t.replace("matrix.mtx", replace_line(mtx, 1, "%%MatrixMarket matrix coordinate integer symmetric"));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); }, {t.path("matrix.mtx"), "line 1", "general"});
  t.replace("matrix.mtx", replace_line(mtx, 1, "%%MatrixMarket matrix coordinate complex general"));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); }, {t.path("matrix.mtx"), "line 1", "integer|real"});
  expect_unchanged(t, before);
}

TEST(TenxMalformed, WrongSizeLine) {
  TinyCopy t;
  std::string mtx = t.text("matrix.mtx.gz");
  const size_t size_line = entry_lines(mtx).front() - 1;
  t.replace("matrix.mtx", replace_line(mtx, size_line, "5 5"));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(size_line), "size line"});
}

TEST(TenxMalformed, EntryOutOfRange) {
  TinyCopy t;
  std::string mtx = t.text("matrix.mtx.gz");
  const size_t last = entry_lines(mtx).back();
  t.replace("matrix.mtx", replace_line(mtx, last, "1 6 4"));  // column 6 of a 5-barcode matrix
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(last), "out of range"});
  t.replace("matrix.mtx", replace_line(mtx, last, "0 1 4"));  // indices are 1-based
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(last), "out of range"});
  t.replace("matrix.mtx", replace_line(mtx, last, "1 x 4"));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(last), "row column value"});
}

TEST(TenxMalformed, FewerEntriesThanDeclared) {
  TinyCopy t;
  std::string mtx = t.text("matrix.mtx.gz");
  const auto entries = entry_lines(mtx);
  t.replace("matrix.mtx", replace_line(mtx, entries.back(), ""));
  const std::string n = std::to_string(entries.size());
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(entries.back()),
                       std::to_string(entries.size() - 1) + " of the " + n + " entries"});
}

TEST(TenxMalformed, MoreEntriesThanDeclared) {
  TinyCopy t;
  std::string mtx = t.text("matrix.mtx.gz");
  const auto entries = entry_lines(mtx);
  if (!mtx.empty() && mtx.back() != '\n') mtx += '\n';  // the fixture's last line has no newline
  t.replace("matrix.mtx", mtx + "1 1 1\n");
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("matrix.mtx"), "line " + std::to_string(entries.back() + 1), "more entries"});
}

TEST(TenxMalformed, TruncatedGzip) {
  TempDir dir;
  for (const char* f : {"matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz"})
    fs::copy_file(pbmc_dir() + "/" + f, dir / f);
  const std::string mtx = dir / "matrix.mtx.gz";
  fs::resize_file(mtx, fs::file_size(mtx) / 2);
  auto before = list_dir(dir.path());
  expect_format_error([&] { read_10x_mtx(dir.path()); }, {mtx, "line ", "truncated"});
  // cut inside the gzip trailer: every entry decompresses, the CRC/length are missing
  fs::copy_file(pbmc_dir() + "/matrix.mtx.gz", mtx, fs::copy_options::overwrite_existing);
  fs::resize_file(mtx, fs::file_size(mtx) - 4);
  expect_format_error([&] { read_10x_mtx(dir.path()); }, {mtx, "truncated"});
  EXPECT_EQ(list_dir(dir.path()), before);
}

TEST(TenxMalformed, FeatureCountMismatch) {
  TinyCopy t;
  std::string feats = t.text("features.tsv.gz");
  t.replace("features.tsv", replace_line(feats, 2, ""));  // one feature fewer than matrix rows
  json ref = reference("mtx " + tiny_dir() + " ''");
  const int64_t rows = ref["shape"][1];  // all features
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.path("features.tsv"), std::to_string(rows - 1) + " features",
                       "declares " + std::to_string(rows) + " features"});
}

TEST(TenxMalformed, BarcodeCountMismatch) {
  TinyCopy t;
  std::string bc = t.text("barcodes.tsv.gz");
  if (!bc.empty() && bc.back() != '\n') bc += '\n';
  t.replace("barcodes.tsv", bc + "TTTTTTTTTTTTTTTT-1\n");
  expect_format_error([&] { read_10x_mtx(t.dir.path()); }, {t.path("barcodes.tsv"), "barcodes", "declares"});
}

TEST(TenxMalformed, FeaturesWithTooFewColumns) {
  TinyCopy t;
  std::string feats = t.text("features.tsv.gz");
  t.replace("features.tsv", replace_line(feats, 3, "ENSG00000268674"));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); }, {t.path("features.tsv"), "line 3", "columns"});
}

TEST(TenxMalformed, MissingBarcodesFile) {
  TinyCopy t;
  fs::remove(t.dir / "barcodes.tsv.gz");
  auto before = list_dir(t.dir.path());
  EXPECT_FALSE(is_10x_mtx_dir(t.dir.path()));
  expect_format_error([&] { read_10x_mtx(t.dir.path()); },
                      {t.dir.path(), "barcodes.tsv", "matrix.mtx", "features.tsv", "genes.tsv"});
  expect_unchanged(t, before);
}

TEST(TenxMalformed, MissingMatrixFile) {
  TinyCopy t;
  fs::remove(t.dir / "matrix.mtx.gz");
  expect_format_error([&] { read_10x_mtx(t.dir.path()); }, {t.dir.path(), "matrix.mtx", "missing"});
}

TEST(TenxMalformed, H5IndicesOutOfRange) {
  TempDir dir;
  const std::string h5 = dir / "bad.h5";
  run_reference("write_v3 " + tiny_dir() + " " + h5);
  run_reference("shrink_features " + h5 + " 2");  // stored indices now point past feature 2
  TenxOptions all;
  all.feature_type = "";
  expect_format_error([&] { read_10x_h5(h5, all); }, {h5, "/matrix/indices", "outside"});
}

}  // namespace
}  // namespace scfm::io
