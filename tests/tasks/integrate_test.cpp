// scfm integrate end to end, on an scfm run of structure scgpt and on scGPT's checkpoint folder
// layout (the fixture): the fine-tune trains (masked MSE falls), the checkpoint holds the
// integration parts and loads in python3-torch, the embedding lands in the .h5ad (anndata), the
// report has the four rows; bad input gives one line and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

using namespace scfm;
using nlohmann::json;

namespace {

struct Prepared {
  test::TempDir dir;
  std::string cells, run, scbench_run, one_batch;
  Prepared() {
    const std::string s = test::scfm_binary() + " --threads 1 ";
    const std::string like = test::real_data("pbmc3k_decoupler.h5ad");
    cells = dir / "cells.h5ad";
    one_batch = dir / "one.h5ad";
    run = dir / "run";
    scbench_run = dir / "scbench";
    test::run_all(
        {s + "simulate --like " + like + " --label-col cell_type --cells 240 --batches 3 --batch-strength 0.5 --seed 5 --out " + cells,
         s + "simulate --like " + like + " --label-col cell_type --cells 60 --batches 1 --seed 5 --out " + one_batch,
         s + "vocab build " + cells + " --out " + (dir / "vocab.json"),
         s + "ingest " + cells + " --vocab " + (dir / "vocab.json") + " --out " + (dir / "store"),
         s + "pretrain --store " + (dir / "store") + " --out " + run +
             " --model-structure scgpt --max-steps 3 --batch-size 16 --nlayers 1 --nheads 2 --embsize 16"
             " --train-maxseq 32 --seed 0 --loader-threads 1",
         s + "pretrain --store " + (dir / "store") + " --out " + scbench_run +
             " --model-structure transformer --max-steps 2 --batch-size 16 --nlayers 1 --nheads 2 --embsize 16"
             " --train-maxseq 32 --seed 0 --loader-threads 1"});
  }
};
const Prepared& prepared() {
  static const Prepared s;
  return s;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(test::read_text(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST(IntegrateCli, ScfmRunTrainsWritesTheIntegrationModelAndScoresFourRows) {
  const Prepared& s = prepared();
  test::TempDir out;
  const auto r = test::run_command(test::scfm_binary() + " --threads 2 integrate --model " + s.run + " --in " + s.cells +
                                   " --batch-col batch --label-col cell_type --out " + (out / "o") + " --out-h5ad " +
                                   (out / "int.h5ad") + " --n-hvg 64 --epochs 4 --batch-size 16 --lr 1e-3 --json 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<json> epochs = read_jsonl(out / "o/metrics.jsonl");
  ASSERT_EQ(epochs.size(), 4u);
  EXPECT_LT(epochs.back()["mse"].get<double>(), epochs.front()["mse"].get<double>());  // it learns
  for (const json& e : epochs)
    for (const char* k : {"zero_nll", "gepc", "gepc_zero_nll", "ecs", "dab"}) EXPECT_GT(e[k].get<double>(), 0) << k;
  const auto c = test::run_python("tasks/integrate_check.py", "read " + (out / "int.h5ad") + " " + (out / "o/model"));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const json info = json::parse(c.output);
  EXPECT_EQ(info["n"], 240);
  EXPECT_EQ(info["dim"], 16);
  EXPECT_TRUE(info["unit_norm"]);
  EXPECT_TRUE(info["zero_shot"]);
  EXPECT_TRUE(info["has_dsbn"]);
  EXPECT_EQ(info["n_dsbn"], 3);
  EXPECT_TRUE(info["has_dab"]);
  EXPECT_TRUE(info["has_batch_encoder"]);
  EXPECT_EQ(info["do_dab"], true);
  EXPECT_EQ(info["explicit_zero_prob"], true);
  const json results = json::parse(test::read_text(out / "o/results.json"));
  EXPECT_EQ(results["method_order"],
            json({"PCA (unintegrated)", "Harmony (on the PCA)", "X_scfm", "X_scfm_integrated"}));
  // the fine-tuned folder is itself a model scfm can load (embed runs on it)
  const auto e = test::run_command(test::scfm_binary() + " --threads 1 model info " + (out / "o/model") + " 2>&1");
  EXPECT_EQ(e.exit_code, 0) << e.output;
}

TEST(IntegrateCli, ScGptFolderLayoutWorksWithoutLabels) {
  test::TempDir out;
  const auto mk = test::run_python("tasks/integrate_check.py", "make-fixture-cells " + (out / "cells.h5ad"));
  ASSERT_EQ(mk.exit_code, 0) << mk.output;
  const auto r = test::run_command(test::scfm_binary() + " --threads 1 integrate --model " + test::fixtures_dir() +
                                   "/scgpt_transformer --in " + (out / "cells.h5ad") + " --batch-col batch --out " +
                                   (out / "o") + " --out-h5ad " + (out / "int.h5ad") + " --n-hvg 20 --max-steps 3 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(out / "o/model/best_model.pt"));
  EXPECT_FALSE(std::filesystem::exists(out / "o/results.json"));  // no labels: no metrics
  const auto c = test::run_python("tasks/integrate_check.py", "read " + (out / "int.h5ad") + " " + (out / "o/model"));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(json::parse(c.output)["n_dsbn"], 2);
}

TEST(IntegrateCli, BadInputGivesOneLineAndWritesNothing) {
  const Prepared& s = prepared();
  test::TempDir out;
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases{
      {"--model " + s.run + " --in " + s.cells + " --batch-col donor", "obs/donor: no such batch column"},
      {"--model " + s.run + " --in " + s.one_batch + " --batch-col batch", "only one batch"},
      {"--model " + s.scbench_run + " --in " + s.cells + " --batch-col batch", "needs scGPT's TransformerModel"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_command(test::scfm_binary() + " integrate " + c.args + " --out " + (out / "never") +
                                     " --out-h5ad " + (out / "never.h5ad") + " 2>&1");
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out / "never")) << c.args;
    EXPECT_FALSE(std::filesystem::exists(out / "never.h5ad")) << c.args;
  }
}
