// `scfm pp` with --hvg and --bin, end to end, checked by anndata and a numpy recomputation of
// scanpy's formulas (tests/cli/pp_hvg_check.py).
#include <gtest/gtest.h>

#include "test_util.h"

using namespace scfm;

namespace {
std::string pbmc_small() { return test::real_data("pbmc_small.h5ad"); }

void run_pp(const std::string& in, const std::string& out, const std::string& flags) {
  auto r = test::run_command(test::scfm_binary() + " pp " + in + " --out " + out + " " + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

std::string check(const std::string& args) { return test::run_python("cli/pp_hvg_check.py", args + " 2>&1").output; }
}  // namespace

TEST(PpHvg, SeuratColumnsMatchScanpy) {
  test::TempDir t;
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --log1p --hvg 50 --hvg-flavor seurat");
  EXPECT_EQ(check("seurat " + pbmc_small() + " " + (t / "o.h5ad") + " 50"), "ok\n");
}

TEST(PpHvg, CellRangerColumnsMatchScanpy) {
  test::TempDir t;
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --hvg 30 --hvg-flavor cell_ranger");
  EXPECT_EQ(check("cell_ranger " + pbmc_small() + " " + (t / "o.h5ad") + " 30"), "ok\n");
}

TEST(PpHvg, SeuratWithBatchKeyMatchesScanpy) {
  test::TempDir t;
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --log1p --hvg 50 --hvg-batch-key groups");
  EXPECT_EQ(check("seurat " + pbmc_small() + " " + (t / "o.h5ad") + " 50 groups"), "ok\n");
}

TEST(PpHvg, SeuratV3UsesCountsAndMatchesSeuratVst) {
  test::TempDir t;
  // X is log1p, yet seurat_v3 must read the counts: the fixture is Seurat's vst on counts
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --log1p --hvg 200 --hvg-flavor seurat_v3");
  EXPECT_EQ(check("seurat_v3 " + pbmc_small() + " " + (t / "o.h5ad") + " " + test::fixtures_dir() +
                  "/seurat_hvg/hvg_vst_selected.txt"),
            "ok\n");
}

TEST(PpHvg, SubsetKeepsTheTopGenes) {
  test::TempDir t;
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --log1p --hvg 40 --hvg-flavor seurat_v3 --subset-hvg");
  EXPECT_EQ(check("subset " + pbmc_small() + " " + (t / "o.h5ad") + " 40"), "ok\n");
}

TEST(PpHvg, DeterministicBinsMatchNumpyDigitize) {
  test::TempDir t;
  run_pp(pbmc_small(), t / "o.h5ad", "--normalize-total 10000 --log1p --bin 51 --bin-deterministic");
  EXPECT_EQ(check("bins " + (t / "o.h5ad") + " 51 deterministic"), "ok\n");
}

TEST(PpHvg, KeyedBinsDependOnlyOnTheSeed) {
  test::TempDir t;
  std::string in = test::real_data("pbmc3k_decoupler.h5ad");
  run_pp(in, t / "a.h5ad", "--normalize-total 10000 --log1p --bin 11 --seed 7");
  run_pp(in, t / "b.h5ad", "--normalize-total 10000 --log1p --bin 11 --seed 7");
  run_pp(in, t / "c.h5ad", "--normalize-total 10000 --log1p --bin 11 --seed 8");
  EXPECT_EQ(check("bins " + (t / "a.h5ad") + " 11 keyed"), "ok\n");
  EXPECT_EQ(check("same " + (t / "a.h5ad") + " " + (t / "b.h5ad")), "same\n");
  EXPECT_EQ(check("same " + (t / "a.h5ad") + " " + (t / "c.h5ad")), "different\n");
}

TEST(PpHvg, BadFlagsAreRefused) {
  std::string base = test::scfm_binary() + " pp " + pbmc_small() + " --out /tmp/never.h5ad ";
  EXPECT_NE(test::run_command(base + "--hvg 10 --hvg-flavor pearson").exit_code, 0);
  EXPECT_NE(test::run_command(base + "--bin 11 --seed 1 --bin-deterministic").exit_code, 0);
  EXPECT_NE(test::run_command(base + "--subset-hvg").exit_code, 0);  // needs --hvg
  EXPECT_NE(test::run_command(base + "--seed 3").exit_code, 0);       // needs --bin
  auto r = test::run_command(base + "--hvg 10 --hvg-batch-key nope");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nope"), std::string::npos) << r.output;
}
