// .h5ad reading and writing, checked against the real client: anndata and h5py write every
// encoding, anndata reads back what scfm writes (tests/io/h5ad_client.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <hdf5.h>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_obs.h"
#include "scfm/io/h5ad_stream.h"
#include "test_util.h"

using nlohmann::json;
using namespace scfm;
using namespace scfm::io;
namespace fs = std::filesystem;

namespace {

json client(const std::string& args) {
  auto r = test::run_python("io/h5ad_client.py", args + " 2>/dev/null");
  if (r.exit_code != 0) throw std::runtime_error("h5ad_client.py " + args + " failed: " + r.output);
  return json::parse(r.output);
}

// The cases anndata and h5py write, made once per test binary run.
class Cases {
 public:
  static Cases& get() {
    static Cases c;
    return c;
  }
  std::string file(const std::string& name) const { return dir_.path() + "/" + name + ".h5ad"; }
  std::vector<std::string> names;

 private:
  Cases() {
    auto r = test::run_python("io/h5ad_client.py", "make " + dir_.path() + " 2>/dev/null");
    if (r.exit_code != 0) throw std::runtime_error("making the cases failed: " + r.output);
    names = json::parse(test::read_text(dir_.path() + "/cases.json")).get<std::vector<std::string>>();
  }
  test::TempDir dir_;
};

// A value as the Python dump writes it (NaN as null).
json number(const Array& a, int64_t i) {
  if (a.dtype == DType::Bool) return a.get<int>(i) != 0;
  if (dtype_is_float(a.dtype)) {
    double v = a.get<double>(i);
    return std::isnan(v) ? json(nullptr) : json(v);
  }
  if (a.dtype == DType::U64) return a.get<uint64_t>(i);
  return a.get<int64_t>(i);
}

json values(const Array& a) {
  json out = json::array();
  for (int64_t i = 0; i < a.size(); ++i) out.push_back(a.is_string() ? json(a.strings[i]) : number(a, i));
  return out;
}

// A dataframe column as h5ad_client.py's enc_series describes it.
json column_json(const Node& col) {
  const std::string enc = col.encoding();
  if (enc == "categorical") {
    json cats = values(col.child("categories")->data);
    const Array& codes = col.child("codes")->data;
    json vals = json::array();
    for (int64_t i = 0; i < codes.size(); ++i) {
      int64_t c = codes.get<int64_t>(i);
      vals.push_back(c < 0 ? json(nullptr) : cats[c]);
    }
    bool ordered = col.attr("ordered") != nullptr && col.attr("ordered")->get<int>(0) != 0;
    return {{"dtype", "category"}, {"ordered", ordered}, {"categories", cats}, {"values", vals}};
  }
  std::string dtype = dtype_name(col.data.dtype);
  if (col.data.is_string()) dtype = "object";
  return {{"dtype", dtype}, {"values", values(col.data)}};
}

json dense_values(const CsrMatrix& m) {
  json out = json::array();
  for (float v : m.to_dense()) out.push_back(v);
  return out;
}

std::string stored_dtype(const Node& m) {
  return dtype_name(m.is_group ? m.child("data")->data.dtype : m.data.dtype);
}

void expect_matrix(const AnnData& a, const std::string& layer, const json& want, const std::string& what) {
  const Node& m = a.matrix(layer);
  EXPECT_EQ(stored_dtype(m), want["dtype"].get<std::string>()) << what;
  const std::string enc = m.encoding();
  const std::string fmt = want["format"];
  EXPECT_EQ(enc, fmt == "dense" ? "array" : fmt + "_matrix") << what;
  CsrMatrix csr = a.matrix_csr(layer);
  EXPECT_EQ(csr.n_rows, want["shape"][0].get<int64_t>()) << what;
  EXPECT_EQ(csr.n_cols, want["shape"][1].get<int64_t>()) << what;
  json got = dense_values(csr);
  ASSERT_EQ(got.size(), want["dense"].size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_FLOAT_EQ(got[i].get<float>(), want["dense"][i].get<float>()) << what << " element " << i;
}

void expect_frame(const Node& df, const json& want, const std::string& what) {
  EXPECT_EQ(json(dataframe_index(df)), want["index"]) << what;
  EXPECT_EQ(json(dataframe_columns(df)), want["order"]) << what;
  for (auto& [name, col] : want["columns"].items()) {
    const Node* c = df.child(name);
    ASSERT_NE(c, nullptr) << what << " column " << name;
    json got = column_json(*c);
    if (col["dtype"] == "category") {
      EXPECT_EQ(got, col) << what << " column " << name;
    } else {
      EXPECT_EQ(got["dtype"], col["dtype"]) << what << " column " << name;
      ASSERT_EQ(got["values"].size(), col["values"].size());
      for (size_t i = 0; i < got["values"].size(); ++i) {
        if (col["values"][i].is_number_float())
          EXPECT_DOUBLE_EQ(got["values"][i].get<double>(), col["values"][i].get<double>()) << what << " " << name;
        else
          EXPECT_EQ(got["values"][i], col["values"][i]) << what << " column " << name << " row " << i;
      }
    }
  }
}

void expect_same_as_anndata(const std::string& path) {
  SCOPED_TRACE(path);
  json want = client("dump " + path);
  AnnData a = read_h5ad(path);
  EXPECT_EQ(a.n_obs(), want["n_obs"].get<int64_t>());
  EXPECT_EQ(a.n_vars(), want["n_vars"].get<int64_t>());
  if (want["X"].is_null())
    EXPECT_FALSE(a.has_x());
  else
    expect_matrix(a, "", want["X"], "X");
  for (auto& [k, m] : want["layers"].items()) expect_matrix(a, k, m, "layers/" + k);
  expect_frame(a.obs(), want["obs"], "obs");
  expect_frame(a.var(), want["var"], "var");
  for (auto& [k, m] : want["obsm"].items()) {
    const Node* n = a.root.child("obsm")->child(k);
    ASSERT_NE(n, nullptr) << "obsm/" << k;
    if (m.contains("dense") && m["format"] == "dense") {
      EXPECT_EQ(std::string(dtype_name(n->data.dtype)), m["dtype"].get<std::string>());
      json got = values(n->data);
      for (size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i].get<double>(), m["dense"][i].get<double>());
    }
  }
}

}  // namespace

TEST(H5ad, ReadsEveryEncodingAnndataWrites) {
  auto& cases = Cases::get();
  for (const std::string& name : cases.names) {
    expect_same_as_anndata(cases.file(name));  // lzf included: h5py's filter over liblzf
  }
}

TEST(H5ad, ReadsAnndata07LegacyArchives) {
  for (const char* v : {"v0.7.0", "v0.7.8"}) {
    std::string path = std::string("/usr/lib/python3/dist-packages/anndata/tests/data/archives/") + v + "/adata.h5ad";
    if (!fs::exists(path)) GTEST_SKIP() << "python3-anndata's test archives are not installed";
    expect_same_as_anndata(path);
  }
}

TEST(H5ad, WrittenFilesReadBackIdenticallyInAnndata) {
  test::TempDir out;
  auto& cases = Cases::get();
  std::vector<std::string> inputs;
  for (auto& n : cases.names) inputs.push_back(cases.file(n));
  for (const char* v : {"v0.7.0", "v0.7.8"})
    inputs.push_back(std::string("/usr/lib/python3/dist-packages/anndata/tests/data/archives/") + v + "/adata.h5ad");
  inputs.push_back(test::real_data("pbmc3k_decoupler.h5ad"));
  inputs.push_back(test::real_data("pbmc_small.h5ad"));
  for (const std::string& in : inputs) {
    SCOPED_TRACE(in);
    std::string written = out / "copy.h5ad";
    write_h5ad(read_h5ad(in), written);
    auto r = test::run_python("io/h5ad_client.py", "compare " + in + " " + written + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("identical"), std::string::npos) << r.output;
    // and scfm's own reader sees the same tree again
    expect_same_as_anndata(written);
  }
}

TEST(H5ad, NullableEncodingsOfAnndata011) {
  AnnData a = read_h5ad(Cases::get().file("nullable_v011"));
  const Node& obs = a.obs();
  EXPECT_EQ(describe_column(obs, "n_int").encoding, "nullable-integer");
  EXPECT_EQ(column_strings(obs, "n_int"), (std::vector<std::string>{"1", "2", "3", "", "5", "6", "7"}));
  EXPECT_EQ(column_strings(obs, "flag"), (std::vector<std::string>{"True", "False", "True", "False", "True", "", "False"}));
  EXPECT_EQ(column_strings(obs, "label"), (std::vector<std::string>{"a", "b", "", "d", "e", "f", "g"}));
  // fixed-length byte strings in var's index
  EXPECT_EQ(a.var_names(), (std::vector<std::string>{"GENE0", "GENE1", "GENE2", "GENE3", "GENE4"}));
  // written back with the same encodings, as h5py sees them
  test::TempDir out;
  write_h5ad(a, out / "n.h5ad");
  auto r = test::run_command(std::string(SCFM_PYTHON) + " -c \"import h5py,numpy as np; f=h5py.File('" + (out / "n.h5ad") +
                             "'); g=f['obs/n_int']; print(g.attrs['encoding-type'], list(g['values'][...]), "
                             "list(g['mask'][...]), f['obs/label'].attrs['encoding-type'], g['mask'].dtype)\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("nullable-integer [1, 2, 3, 0, 5, 6, 7] [False, False, False, True, False, False, False] "
                          "nullable-string-array bool"),
            std::string::npos)
      << r.output;
}

TEST(H5ad, StreamsRowBlocksOfEveryLayout) {
  auto& cases = Cases::get();
  for (const char* name : {"csr_f32", "csc_f32", "dense_f32", "csr_f64", "csr_int64_indptr", "h5sparse_legacy", "csr_u16"}) {
    SCOPED_TRACE(name);
    json want = client(std::string("dump ") + cases.file(name));
    H5adMatrixReader reader(cases.file(name));
    ASSERT_EQ(reader.n_rows(), want["n_obs"].get<int64_t>());
    std::vector<float> dense;
    for (int64_t start = 0; start < reader.n_rows(); start += 3) {
      int64_t count = std::min<int64_t>(3, reader.n_rows() - start);
      CsrMatrix block = reader.read_rows(start, count);
      EXPECT_EQ(block.n_rows, count);
      auto d = block.to_dense();
      dense.insert(dense.end(), d.begin(), d.end());
    }
    ASSERT_EQ(dense.size(), want["X"]["dense"].size());
    for (size_t i = 0; i < dense.size(); ++i) EXPECT_FLOAT_EQ(dense[i], want["X"]["dense"][i].get<float>());
  }
}

TEST(H5ad, StreamingRefusesBigCscWithAdvice) {
  H5adStreamOptions opt;
  opt.csc_memory_limit_bytes = 16;
  try {
    H5adMatrixReader reader(Cases::get().file("csc_f32"), opt);
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("tocsr()"), std::string::npos) << e.what();
    EXPECT_EQ(e.field(), "/X");
  }
}

TEST(H5ad, MatrixInALayerWhenXIsMissing) {
  AnnData a = read_h5ad(Cases::get().file("no_x"));
  EXPECT_FALSE(a.has_x());
  EXPECT_THROW(a.matrix(), FormatError);
  EXPECT_EQ(a.matrix_csr("counts").n_rows, 7);
  H5adStreamOptions opt;
  opt.layer = "counts";
  EXPECT_EQ(H5adMatrixReader(Cases::get().file("no_x"), opt).read_rows(0, 7).n_rows, 7);
}

TEST(H5ad, RealDatasetsMatchAnndata) {
  for (const char* name : {"pbmc3k_decoupler.h5ad", "pbmc_small.h5ad"}) {
    SCOPED_TRACE(name);
    std::string path = test::real_data(name);
    json want = client("summary " + path);
    AnnData a = read_h5ad(path);
    CsrMatrix x = a.matrix_csr();
    EXPECT_EQ(x.n_rows, want["n_obs"].get<int64_t>());
    EXPECT_EQ(x.n_cols, want["n_vars"].get<int64_t>());
    EXPECT_EQ(x.nnz(), want["nnz"].get<int64_t>());
    auto sums = x.row_sums();
    for (size_t i = 0; i < sums.size(); ++i) EXPECT_NEAR(sums[i], want["row_sums"][i].get<double>(), 1e-3);
    EXPECT_EQ(json(a.obs_names()), want["obs_names"]);
    EXPECT_EQ(json(a.var_names()), want["var_names"]);
    for (auto& [col, labels] : want["categorical"].items()) {
      auto got = column_strings(a.obs(), col);
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], labels[i].is_null() ? std::string() : labels[i].get<std::string>()) << col;
    }
    // streaming gives the same rows
    H5adMatrixReader reader(path);
    CsrMatrix block = reader.read_rows(5, 20);
    for (int64_t r = 0; r < 20; ++r) EXPECT_NEAR(block.row_sums()[r], sums[5 + r], 1e-3);
  }
}

namespace {

// The obs index and `columns` read with H5adObsReader in blocks of `block` rows, concatenated:
// [0] the index, then one vector per column.
std::vector<std::vector<std::string>> obs_by_blocks(const std::string& path, const std::vector<std::string>& columns,
                                                    int64_t block) {
  H5adObsReader reader(path, columns);
  std::vector<std::vector<std::string>> out(columns.size() + 1);
  for (int64_t start = 0; start < reader.n_rows(); start += block) {
    const int64_t count = std::min(block, reader.n_rows() - start);
    H5adObsBlock b = reader.read(start, count);
    EXPECT_EQ(static_cast<int64_t>(b.index.size()), count);
    EXPECT_EQ(b.columns.size(), columns.size());
    out[0].insert(out[0].end(), b.index.begin(), b.index.end());
    for (size_t c = 0; c < b.columns.size(); ++c) {
      EXPECT_EQ(static_cast<int64_t>(b.columns[c].size()), count) << columns[c];
      out[c + 1].insert(out[c + 1].end(), b.columns[c].begin(), b.columns[c].end());
    }
  }
  return out;
}

// Every obs column of `path`, read in blocks, equals what the whole-file reader gives.
void expect_obs_blocks_equal_whole(const std::string& path, int64_t block) {
  SCOPED_TRACE(path + ", blocks of " + std::to_string(block));
  const AnnData a = read_h5ad(path);
  const std::vector<std::string> columns = dataframe_columns(a.obs());
  const auto got = obs_by_blocks(path, columns, block);
  EXPECT_EQ(got[0], a.obs_names());
  for (size_t c = 0; c < columns.size(); ++c) EXPECT_EQ(got[c + 1], column_strings(a.obs(), columns[c])) << columns[c];
}

}  // namespace

TEST(H5adObs, BlocksEqualTheWholeReaderOnRealData) {
  for (const char* name : {"pbmc3k_decoupler.h5ad", "pbmc_small.h5ad"}) {
    const std::string path = test::real_data(name);
    ASSERT_FALSE(dataframe_columns(read_h5ad(path).obs()).empty()) << name;
    for (int64_t block : {7, 64, 100000}) expect_obs_blocks_equal_whole(path, block);
  }
}

TEST(H5adObs, BlocksEqualTheWholeReaderOnEveryLayout) {
  auto& cases = Cases::get();
  std::vector<std::string> paths;
  for (const std::string& name : cases.names) paths.push_back(cases.file(name));
  paths.push_back(cases.file("nullable_v011"));   // nullable-integer/-boolean/-string-array (h5py)
  paths.push_back(cases.file("obs_legacy_v07"));  // 0.7: __categories references, fixed-length strings
  for (const char* v : {"v0.7.0", "v0.7.8"}) {
    const std::string p = std::string("/usr/lib/python3/dist-packages/anndata/tests/data/archives/") + v + "/adata.h5ad";
    if (fs::exists(p)) paths.push_back(p);
  }
  for (const std::string& path : paths)
    for (int64_t block : {1, 3, 7}) expect_obs_blocks_equal_whole(path, block);
}

// Independent of the whole-file reader: the values anndata itself reads, in the strings
// column_strings documents (NA "" for categoricals, "nan" for floats, bools "True"/"False").
TEST(H5adObs, ColumnsAnndataWritesReadAsAnndataSeesThem) {
  const std::string path = Cases::get().file("obs_kinds");
  const json want = client("dump " + path)["obs"];
  const std::vector<std::string> columns = want["order"].get<std::vector<std::string>>();
  ASSERT_EQ(columns, (std::vector<std::string>{"cell_type", "batch", "sample", "n_genes", "score", "f32",
                                               "is_doublet", "u8"}));
  const auto got = obs_by_blocks(path, columns, 7);
  EXPECT_EQ(json(got[0]), want["index"]);
  for (size_t c = 0; c < columns.size(); ++c) {
    const json& col = want["columns"][columns[c]];
    const std::string dtype = col["dtype"];
    ASSERT_EQ(got[c + 1].size(), col["values"].size()) << columns[c];
    for (size_t i = 0; i < got[c + 1].size(); ++i) {
      const std::string& s = got[c + 1][i];
      const json& v = col["values"][i];
      SCOPED_TRACE(columns[c] + " row " + std::to_string(i) + ": " + s + " vs " + v.dump());
      if (v.is_null()) {
        EXPECT_EQ(s, dtype == "category" ? "" : "nan");
      } else if (v.is_boolean()) {
        EXPECT_EQ(s, v.get<bool>() ? "True" : "False");
      } else if (v.is_number_integer()) {
        EXPECT_EQ(s, std::to_string(v.get<int64_t>()));
      } else if (v.is_number_float()) {
        const double d = std::strtod(s.c_str(), nullptr);
        if (dtype == "float32")
          EXPECT_EQ(static_cast<float>(d), static_cast<float>(v.get<double>()));
        else
          EXPECT_NEAR(d, v.get<double>(), 1e-8 * std::abs(v.get<double>()));
      } else {
        EXPECT_EQ(s, v.get<std::string>());
      }
    }
  }
  // the kinds this test is for are all there
  EXPECT_EQ(describe_column(read_h5ad(path).obs(), "cell_type").encoding, "categorical");
  EXPECT_EQ(std::count(got[1].begin(), got[1].end(), ""), 5);  // rows 3, 10, 11, 40, 52: NA
  EXPECT_EQ(describe_column(read_h5ad(path).obs(), "sample").encoding, "string-array");
  EXPECT_EQ(got[3][1], "s1-\xc3\xbc");
}

TEST(H5adObs, ReadsLegacyAnndata07Columns) {
  const auto got = obs_by_blocks(Cases::get().file("obs_legacy_v07"), {"cat", "fixed", "flag", "vlen", "count"}, 7);
  ASSERT_EQ(got[0].size(), 23u);
  EXPECT_EQ(got[0][22], "bc22");  // fixed-length index named by _index = "index"
  EXPECT_EQ((std::vector<std::string>(got[1].begin(), got[1].begin() + 5)),
            (std::vector<std::string>{"", "x", "y", "z", ""}));  // codes -1, 0, 1, 2, -1
  EXPECT_EQ(got[2][9], "f09");
  EXPECT_EQ(got[3][0], "True");
  EXPECT_EQ(got[3][1], "False");
  EXPECT_EQ(got[4][0], "");
  EXPECT_EQ(got[4][2], "v2v2");
  EXPECT_EQ(got[5][3], "21");
}

TEST(H5adObs, LazyObsReadsShapesAndColumnNamesOnly) {
  for (const std::string& name : {"obs_kinds", "obs_legacy_v07", "nullable_v011"}) {
    SCOPED_TRACE(name);
    const std::string path = Cases::get().file(name);
    const AnnData whole = read_h5ad(path);
    H5adReadOptions o;
    o.lazy_matrix_elements = 0;
    o.lazy_obs = true;
    const AnnData lazy = read_h5ad(path, o);
    EXPECT_EQ(lazy.n_obs(), whole.n_obs());
    EXPECT_EQ(lazy.var_names(), whole.var_names());
    const std::vector<std::string> columns = dataframe_columns(whole.obs());
    EXPECT_EQ(dataframe_columns(lazy.obs()), columns);
    for (const std::string& c : columns) {
      const Column w = describe_column(whole.obs(), c), l = describe_column(lazy.obs(), c);
      EXPECT_EQ(l.encoding, w.encoding) << c;
      EXPECT_EQ(l.length, w.length) << c;
      EXPECT_EQ(l.n_categories, w.n_categories) << c;
      EXPECT_THROW(column_strings(lazy.obs(), c), Error) << c;
    }
    EXPECT_THROW(lazy.obs_names(), Error);
  }
}

TEST(H5adObs, ErrorsNameTheFileTheFieldAndTheExpectation) {
  const std::string path = Cases::get().file("obs_kinds");
  try {
    H5adObsReader reader(path, {"cell_type", "celltype"});
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.field(), "/obs/celltype");
    EXPECT_NE(std::string(e.what()).find("the obs columns are: cell_type, batch, sample"), std::string::npos) << e.what();
  }
  H5adObsReader reader(path, {"cell_type"});
  EXPECT_THROW(reader.read(50, 4), Error);
  EXPECT_THROW(reader.read(-1, 2), Error);
  EXPECT_TRUE(reader.read(53, 0).index.empty());

  test::TempDir out;
  // a categorical code out of range at row 40: blocks before it read; the block holding it names it
  const std::string bad_code = out / "code.h5ad", bad_length = out / "length.h5ad";
  auto r = test::run_python("io/h5ad_client.py", "corrupt obs_code_late " + path + " " + bad_code);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  H5adObsReader codes(bad_code, {"cell_type"});
  EXPECT_EQ(codes.read(0, 35).columns[0].size(), 35u);
  try {
    codes.read(35, 7);
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "/obs/cell_type/codes");
    EXPECT_NE(std::string(e.what()).find("code 9 at row 40 is out of range; expected -1 (NA) or 0..3"), std::string::npos)
        << e.what();
  }
  // a column shorter than the index is refused when opening
  r = test::run_python("io/h5ad_client.py", "corrupt obs_column_short " + path + " " + bad_length);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  try {
    H5adObsReader short_column(bad_length, {"n_genes"});
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "/obs/n_genes");
    EXPECT_NE(std::string(e.what()).find("has 52 rows; expected 53"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((H5adObsReader{bad_length, {"cell_type"}}));
  // a group that is no dataframe column
  try {
    H5adObsReader{Cases::get().file("obs_legacy_v07"), {"__categories"}};
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "/obs/__categories");
    EXPECT_NE(std::string(e.what()).find("expected a dataframe column"), std::string::npos) << e.what();
  }
}

TEST(H5ad, UpdateAddsEmbeddingsColumnsAndUnsWithoutTouchingTheRest) {
  test::TempDir out;
  std::string in = test::real_data("pbmc_small.h5ad");
  std::string dst = out / "with_emb.h5ad";
  AnnData probe = read_h5ad(in);
  const int64_t n = probe.n_obs();
  update_h5ad(in, dst, [&](AnnData& a) {
    std::vector<float> emb(static_cast<size_t>(n * 4));
    for (size_t i = 0; i < emb.size(); ++i) emb[i] = 0.5f * static_cast<float>(i);
    if (a.root.child("obsm") == nullptr) a.root.set("obsm", make_dict());
    a.root.child("obsm")->set("X_scfm", make_array(Array::from(emb, {n, 4})));
    std::vector<std::string> labels(static_cast<size_t>(n), "T");
    labels[0] = "B";
    dataframe_set_column(a.obs(), "scfm_label", make_categorical_from_labels(labels));
    Node settings = make_dict();
    settings.set("model", make_string("scbench_transformer"));
    settings.set("max_length", make_scalar<int64_t>(1200));
    a.root.child("uns")->set("scfm", std::move(settings));
  });
  std::string script = "import anndata,numpy as np; a=anndata.read_h5ad('" + dst + "'); b=anndata.read_h5ad('" + in +
                       "'); e=a.obsm['X_scfm']; print(e.dtype, e.shape, float(e[1,0]), a.obs['scfm_label'].dtype, "
                       "list(a.obs['scfm_label'][:2]), a.uns['scfm']['model'], int(a.uns['scfm']['max_length']), "
                       "(a.X!=b.X).nnz, list(a.obs.columns[:-1])==list(b.obs.columns))";
  auto r = test::run_command(std::string(SCFM_PYTHON) + " -c \"" + script + "\" 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "float32 (80, 4) 2.0 category ['B', 'T'] scbench_transformer 1200 0 True\n");
}

TEST(H5ad, WriteIsAtomic) {
  test::TempDir out;
  std::string dst = out / "x.h5ad";
  test::write_text(dst, "previous content");
  AnnData a = read_h5ad(Cases::get().file("csr_f32"));
  // a write that fails half-way (an element that cannot be copied) leaves the old file alone
  Node lazy;
  lazy.loaded = false;
  lazy.source = "/does/not/exist";
  a.root.child("uns")->set("broken", lazy);
  a.path = Cases::get().file("csr_f32");
  EXPECT_THROW(write_h5ad(a, dst), Error);
  EXPECT_EQ(test::read_text(dst), "previous content");
  for (auto& e : fs::directory_iterator(out.path())) EXPECT_EQ(e.path().filename(), "x.h5ad");
}

// One test per malformed input: the error names the file and the field.
struct Malformed {
  const char* kind;
  const char* source;
  const char* field;   // expected FormatError::field()
  const char* phrase;  // expected in the message
};

class H5adMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(H5adMalformed, FailsWithAClearError) {
  const Malformed& m = GetParam();
  test::TempDir out;
  std::string bad = out / "bad.h5ad";
  auto r = test::run_python("io/h5ad_client.py", std::string("corrupt ") + m.kind + " " + Cases::get().file(m.source) +
                                                     " " + bad);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  try {
    read_h5ad(bad);
    FAIL() << "read_h5ad accepted " << m.kind;
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), bad);
    EXPECT_EQ(e.field(), m.field) << e.what();
    EXPECT_NE(std::string(e.what()).find(m.phrase), std::string::npos) << e.what();
  }
  // the CLI turns it into one line and a non-zero exit
  auto cli = test::run_command(test::scfm_binary() + " info " + bad);
  EXPECT_EQ(cli.exit_code, 1) << cli.output;
  EXPECT_NE(cli.output.find(bad), std::string::npos) << cli.output;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, H5adMalformed,
    ::testing::Values(Malformed{"truncated", "csr_f32", "/", "truncated"},
                      Malformed{"not_hdf5", "csr_f32", "/", "not an HDF5 file"},
                      Malformed{"missing_indptr", "csr_f32", "/X/indptr", "missing"},
                      Malformed{"indptr_not_monotone", "csr_f32", "/X/indptr", "not monotone"},
                      Malformed{"indptr_end", "csr_f32", "/X/indptr", "expected nnz"},
                      Malformed{"index_out_of_range", "csr_f32", "/X/indices", "out of range"},
                      Malformed{"shape_mismatch", "csr_f32", "/X/indptr", "expected 10"},
                      Malformed{"float16", "csr_f32", "/X/data", "unsupported dtype"},
                      Malformed{"categorical_code", "full", "/obs/cell_type/codes", "out of range"},
                      Malformed{"obs_code_late", "obs_kinds", "/obs/cell_type/codes", "code 9 at row 40"},
                      Malformed{"obs_column_short", "obs_kinds", "/obs/n_genes", "has 52 rows; expected 53"}),
    [](const auto& info) { return std::string(info.param.kind); });

// A stand-in for a compression filter this HDF5 lacks (blosc's id): registered while the
// file is written, unregistered before it is read.
static size_t pass_through(unsigned, size_t, const unsigned[], size_t nbytes, size_t*, void**) { return nbytes; }

TEST(H5ad, MissingFilterIsNamed) {
  test::TempDir out;
  std::string path = out / "blosc.h5ad";
  fs::copy_file(Cases::get().file("csr_f32"), path);
  const H5Z_filter_t blosc = 32001;
  static const H5Z_class2_t cls = {H5Z_CLASS_T_VERS, blosc, 1, 1, "fake blosc", nullptr, nullptr, pass_through};
  ASSERT_GE(H5Zregister(&cls), 0);
  {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    std::vector<float> data = read_h5ad(Cases::get().file("csr_f32")).root.child("X")->child("data")->data.to<float>();
    H5Ldelete(f, "/X/data", H5P_DEFAULT);
    hsize_t n = data.size(), chunk = 4;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_filter(dcpl, blosc, H5Z_FLAG_MANDATORY, 0, nullptr);
    hid_t d = H5Dcreate2(f, "/X/data", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(f);
  }
  ASSERT_GE(H5Zunregister(blosc), 0);
  try {
    read_h5ad(path);
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("32001"), std::string::npos) << msg;
    EXPECT_NE(msg.find("blosc"), std::string::npos) << msg;
    EXPECT_EQ(e.field(), "/X/data") << msg;
  }
  EXPECT_THROW(H5adMatrixReader{path}, FormatError);
}
