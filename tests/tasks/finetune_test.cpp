// scfm finetune-annotate end to end: it learns (simulated cell types with a clear signal), writes
// what it says (checked by python3-anndata and python3-torch), reloads, and is reproducible.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using nlohmann::json;
using namespace scfm;

namespace {

// 900 cells simulated from pbmc3k's 8 types and a barely-trained tiny model (one step), shared.
struct Setup {
  test::TempDir dir;
  std::string cells, run;
  Setup() {
    const std::string s = test::scfm_binary() + " --threads 2 ";
    cells = dir / "sim.h5ad";
    run = dir / "run";
    const std::string ref = test::source_dir() + "/data/pbmc3k.h5ad";
    test::run_all(
        {s + "simulate --like " + ref + " --label-col cell_type --cells 900 --seed 3 --out " + cells,
         s + "vocab build " + cells + " --out " + (dir / "vocab.json"),
         s + "ingest " + cells + " --vocab " + (dir / "vocab.json") + " --out " + (dir / "store") +
             " --obs-cols cell_type",
         s + "pretrain --store " + (dir / "store") + " --out " + run +
             " --model-structure transformer --max-steps 1 --batch-size 16 --nlayers 1 --nheads 2 --embsize 32"
             " --train-maxseq 64 --use-mvc --seed 0"});
  }
};
Setup& setup() {
  static Setup s;
  return s;
}

std::string finetune(const std::string& out, const std::string& extra) {
  return test::scfm_binary() + " --threads 2 finetune-annotate --model " + setup().run + " --in " + setup().cells +
         " --label-col cell_type --out " + out + " --max-length 65 --batch-size 32 " + extra;
}

json results(const std::string& dir) { return json::parse(test::read_text(dir + "/results.json")); }

}  // namespace

TEST(Finetune, LearnsCellTypesAndWritesWhatItSays) {
  test::TempDir out;
  auto r = test::run_command(finetune(out.path(), "--epochs 6 --lr 3e-3 --seed 0"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json j = results(out.path());
  EXPECT_EQ(j["test"]["n"], 270);  // 30% of 900, the held-out split
  EXPECT_EQ(j["classes"].size(), 8u);
  // 8 simulated types (several T-cell types close to each other): chance is 0.125-0.2, and a
  // model fine-tuned from one pretraining step for 6 epochs gets well beyond it (0.46 seen).
  EXPECT_GT(j["test"]["accuracy"].get<double>(), 0.35) << j["epochs"].dump();
  EXPECT_LT(j["epochs"][5]["train_loss"].get<double>(), j["epochs"][0]["train_loss"].get<double>() - 0.3);
  EXPECT_LT(j["best_valid_loss"].get<double>(), j["epochs"][0]["valid_loss"].get<double>() + 1e-12);
  auto py = test::run_python("tasks/finetune_check.py", out.path() + " 8 32");
  EXPECT_EQ(py.exit_code, 0) << py.output;
  for (const char* f : {"results.md", "results.csv", "confusion.svg"})
    EXPECT_FALSE(test::read_text(out / f).empty()) << f;
  // The saved folder is a model folder again: embed reads it.
  auto e = test::run_command(test::scfm_binary() + " embed --model " + (out / "model") + " --in " + setup().cells +
                             " --out " + (out / "e.h5ad") + " --max-length 65");
  EXPECT_EQ(e.exit_code, 0) << e.output;
}

TEST(Finetune, SameSeedSameRunAndFrozenEncoderStaysPut) {
  test::TempDir a, b;
  for (auto* d : {&a, &b}) {
    auto r = test::run_command(finetune(d->path(), "--epochs 1 --freeze --seed 5"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  json ja = results(a.path()), jb = results(b.path());
  EXPECT_EQ(ja["epochs"], jb["epochs"]);
  EXPECT_EQ(ja["test"], jb["test"]);
  // --freeze: the encoder's weights in the saved folder equal the pretrained ones.
  std::string py = "import torch; A=torch.load('" + setup().run + "/best_model.pt', weights_only=True); B=torch.load('" +
                   a.path() + "/model/best_model.pt', weights_only=True); assert A.keys()==B.keys(); "
                   "print(max(float((A[k]-B[k]).abs().max()) for k in A))";
  auto r = test::run_command(std::string(SCFM_PYTHON) + " -c \"" + py + "\" 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(std::stod(r.output), 0.0);
}

TEST(Finetune, MissingLabelColumnIsNamed) {
  test::TempDir out;
  auto r = test::run_command(test::scfm_binary() + " finetune-annotate --model " + setup().run + " --in " +
                             setup().cells + " --label-col nope --out " + out.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("obs/nope"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sim.h5ad"), std::string::npos) << r.output;
}
