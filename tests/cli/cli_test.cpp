// The scfm command line end to end, checked by the real clients (anndata, numpy).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using nlohmann::json;
using namespace scfm;

TEST(Cli, PpMatchesScanpyFormulas) {
  test::TempDir out;
  std::string in = test::real_data("pbmc3k_decoupler.h5ad");
  for (const char* target : {"10000", "auto"}) {
    SCOPED_TRACE(target);
    std::string dst = out / "pp.h5ad";
    std::string norm = std::string(target) == "auto" ? "--normalize-total" : std::string("--normalize-total ") + target;
    auto r = test::run_command(test::scfm_binary() + " pp " + in + " --out " + dst +
                               " --filter-cells-min-genes 700 --filter-genes-min-cells 3 " + norm + " --log1p");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto check = test::run_python("cli/pp_check.py", in + " " + dst + " 700 3 " + target + " 2>/dev/null");
    EXPECT_EQ(check.output, "ok\n");
  }
}

TEST(Cli, InfoJsonHasTheDocumentedKeys) {
  std::string in = test::real_data("pbmc3k_decoupler.h5ad");
  auto r = test::run_command(test::scfm_binary() + " info --json " + in + " 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json d = json::parse(r.output);
  auto want = json::parse(test::run_python("io/h5ad_client.py", "summary " + in + " 2>/dev/null").output);
  EXPECT_EQ(d["n_obs"], want["n_obs"]);
  EXPECT_EQ(d["n_vars"], want["n_vars"]);
  EXPECT_EQ(d["nnz"], want["nnz"]);
  EXPECT_EQ(d["x_encoding"], "csr_matrix");
  EXPECT_EQ(d["x_dtype"], want["x_dtype"]);
  EXPECT_EQ(d["value_kind"], "raw counts");
  bool found = false;
  for (auto& c : d["obs_columns"])
    if (c["name"] == "cell_type") {
      found = true;
      EXPECT_EQ(c["dtype"], "category");
      EXPECT_EQ(c["n_categories"], 8);
    }
  EXPECT_TRUE(found);
  for (const char* key : {"var_columns", "layers", "obsm", "uns"}) EXPECT_TRUE(d.contains(key)) << key;
  EXPECT_EQ(d["obsm"][0]["name"], "X_umap");
  EXPECT_EQ(d["layers"][0]["name"], "seurat_lognorm");
}

TEST(Cli, InfoJudgesLog1pValues) {
  test::TempDir out;
  std::string dst = out / "pp.h5ad";
  auto r = test::run_command(test::scfm_binary() + " pp " + test::real_data("pbmc_small.h5ad") + " --out " + dst +
                             " --normalize-total 10000 --log1p");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto info = test::run_command(test::scfm_binary() + " info --json " + dst + " 2>/dev/null");
  json d = json::parse(info.output);
  EXPECT_EQ(d["value_kind"], "log1p (of totals 10000 per cell)");
}

TEST(Cli, ErrorsAreOneLineAndNonZero) {
  auto r = test::run_command(test::scfm_binary() + " info /no/such/file.h5ad");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "scfm: /no/such/file.h5ad: path: no such file or folder; expected an .h5ad file, a 10x folder or a 10x .h5 file\n");
  auto bad_flag = test::run_command(test::scfm_binary() + " pp --bogus");
  EXPECT_NE(bad_flag.exit_code, 0);
}

TEST(Cli, InfoReads10xFolderAndH5) {
  // the MEX folder holds the same cells as the .h5ad
  auto mex = test::run_command(test::scfm_binary() + " info --json " + test::real_data("pbmc3k_decoupler_10x") + " 2>/dev/null");
  ASSERT_EQ(mex.exit_code, 0) << mex.output;
  json d = json::parse(mex.output);
  auto want = json::parse(test::run_python("io/h5ad_client.py", "summary " + test::real_data("pbmc3k_decoupler.h5ad") + " 2>/dev/null").output);
  EXPECT_EQ(d["format"], "10x_mtx");
  EXPECT_EQ(d["n_obs"], want["n_obs"]);
  EXPECT_EQ(d["nnz"], want["nnz"]);
  EXPECT_EQ(d["value_kind"], "raw counts");
  auto h5 = test::run_command(test::scfm_binary() + " info --json " +
                              test::real_data("visium_mouse_brain_10x/filtered_feature_bc_matrix.h5") + " 2>/dev/null");
  ASSERT_EQ(h5.exit_code, 0) << h5.output;
  json v = json::parse(h5.output);
  EXPECT_EQ(v["format"], "10x_h5");
  // 10x stores genes x barcodes
  auto shape = test::run_command(std::string(SCFM_PYTHON) + " -c \"import h5py; s=h5py.File('" +
                                 test::real_data("visium_mouse_brain_10x/filtered_feature_bc_matrix.h5") +
                                 "')['matrix/shape'][...]; print(s[1], s[0])\"");
  EXPECT_EQ(shape.output, std::to_string(v["n_obs"].get<int64_t>()) + " " + std::to_string(v["n_vars"].get<int64_t>()) + "\n");
}
