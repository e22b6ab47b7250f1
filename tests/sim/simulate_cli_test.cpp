// `scfm simulate` end to end (skipped while the verb is not registered in cli/main.cpp).
#include <gtest/gtest.h>

#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/store/reader.h"
#include "test_util.h"

using namespace scfm;

namespace {
bool have_verb() {
  return test::run_command(test::scfm_binary() + " simulate --help").output.find("--like") != std::string::npos;
}
std::string simulate() {
  return test::scfm_binary() + " simulate --like " + test::real_data("pbmc3k_decoupler.h5ad") + " --label-col cell_type ";
}
}  // namespace

TEST(SimulateCli, WritesAnH5adAnndataReads) {
  if (!have_verb()) GTEST_SKIP() << "scfm simulate is not registered in cli/main.cpp";
  test::TempDir t;
  auto r = test::run_command(simulate() + "--cells 3000 --batches 2 --batch-strength 0.5 --perturb-genes 3 --seed 4 "
                             "--block-cells 500 --out " + (t / "sim.h5ad"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::run_python("sim/sim_check.py", (t / "sim.h5ad") + " 2>&1").output, "ok\n");
  // another block size and thread count: the same file contents
  auto r2 = test::run_command(test::scfm_binary() + " --threads 1 simulate --like " +
                              test::real_data("pbmc3k_decoupler.h5ad") +
                              " --cells 3000 --batches 2 --batch-strength 0.5 --perturb-genes 3 --seed 4 "
                              "--block-cells 77 --out " + (t / "sim2.h5ad"));
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  io::CsrMatrix a = io::read_h5ad(t / "sim.h5ad").matrix_csr(), b = io::read_h5ad(t / "sim2.h5ad").matrix_csr();
  EXPECT_EQ(a.indptr, b.indptr);
  EXPECT_EQ(a.data, b.data);
}

TEST(SimulateCli, WritesAStoreWithAVocab) {
  if (!have_verb()) GTEST_SKIP() << "scfm simulate is not registered in cli/main.cpp";
  test::TempDir t;
  io::AnnData ref = io::read_h5ad(test::real_data("pbmc3k_decoupler.h5ad"));
  io::Vocab::build({ref.var_names()}).save(t / "vocab.json");
  auto missing = test::run_command(simulate() + "--cells 10 --out " + (t / "store"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("--vocab"), std::string::npos) << missing.output;
  auto r = test::run_command(simulate() + "--cells 800 --perturb-genes 2 --vocab " + (t / "vocab.json") + " --out " +
                             (t / "store"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  store::CellStore s = store::CellStore::open(t / "store");
  EXPECT_EQ(s.n_cells(), 800);
  EXPECT_GE(s.obs_column_index("perturbation"), 0);
  auto bad = test::run_command(test::scfm_binary() + " simulate --like " + test::real_data("pbmc3k_decoupler.h5ad") +
                               " --cells 10 --label-col nope --out " + (t / "x.h5ad"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("nope"), std::string::npos);
}
