// scfm perturb prepare | predict | finetune end to end: GEARS's layout as python3-anndata writes
// it, baselines exact where the data make them exact, the generator trains, saves a checkpoint
// python3-torch loads with TransformerGenerator's names and predicts the same table again from
// it; bad input gives one line naming file, field and value, and writes nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

using namespace scfm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kCheck = "tasks/perturb_check.py";

struct Prepared {
  test::TempDir dir;
  std::string gears, prepared, sim, sim_prepared, run, scbench_run;
  Prepared() {
    const std::string s = test::scfm_binary() + " --threads 1 ";
    gears = dir / "gears.h5ad";
    prepared = dir / "gears_prepared.h5ad";
    sim = dir / "sim.h5ad";
    sim_prepared = dir / "sim_prepared.h5ad";
    run = dir / "run";
    scbench_run = dir / "scbench_run";
    const auto w = test::run_python(kCheck, "write-gears " + gears);
    if (w.exit_code != 0) throw std::runtime_error(w.output);
    test::run_all(
        {s + "perturb prepare --in " + gears + " --out " + prepared,
         s + "simulate --like " + test::real_data("pbmc3k_decoupler.h5ad") +
             " --label-col cell_type --cells 900 --perturb-genes 8 --combos 4 --seed 4 --out " + sim,
         s + "vocab build " + sim + " --out " + (dir / "vocab.json"),
         s + "ingest " + sim + " --vocab " + (dir / "vocab.json") + " --out " + (dir / "store"),
         s + "pretrain --store " + (dir / "store") + " --out " + run +
             " --model-structure scgpt --max-steps 3 --batch-size 16 --nlayers 1 --nheads 2 --embsize 16"
             " --train-maxseq 32 --seed 0 --loader-threads 1",
         s + "pretrain --store " + (dir / "store") + " --out " + scbench_run +
             " --model-structure transformer --max-steps 3 --batch-size 16 --nlayers 1 --nheads 2 --embsize 16"
             " --train-maxseq 32 --seed 0 --loader-threads 1",
         s + "perturb prepare --in " + sim + " --out " + sim_prepared + " --n-hvg 64"});
  }
};
const Prepared& prepared() {
  static const Prepared s;
  return s;
}

json results(const std::string& dir) { return json::parse(test::read_text(dir + "/results.json")); }

void expect_one_line_error(const test::CommandResult& r, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const auto& p : parts) EXPECT_NE(r.output.find(p), std::string::npos) << "missing '" << p << "' in: " << r.output;
}

}  // namespace

TEST(PerturbCli, PreparesTheGearsLayoutAnndataWrites) {
  const Prepared& s = prepared();
  // counts -> log1p(normalize_total), split per condition, every gene ranked, the knocked-down
  // gene first for its single, read back by anndata
  const auto c = test::run_python(kCheck, "check-prepared " + s.gears + " " + s.prepared);
  EXPECT_EQ(c.exit_code, 0) << c.output;
  // the --json summary: the split covers the 10 perturbed conditions
  const auto r = test::run_command(test::scfm_binary() + " perturb prepare --json --in " + s.gears + " --out " +
                                   (s.dir / "again.h5ad"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["n_single"], 7);
  EXPECT_EQ(j["n_combo"], 3);
  EXPECT_EQ(j["n_control_cells"], 40);
  EXPECT_EQ(j["settings"]["input_values"], "counts");
  EXPECT_EQ(j["split"]["train"].size() + j["split"]["val"].size() + j["split"]["test"].size(), 11u);  // + ctrl
}

TEST(PerturbCli, BaselinesAreExactWhereTheDataMakeThemExact) {
  test::TempDir t;
  const std::string in = t / "additive.h5ad", prep = t / "prep.h5ad";
  ASSERT_EQ(test::run_python(kCheck, "write-additive " + in).exit_code, 0);
  test::run_all({test::scfm_binary() + " perturb prepare --in " + in + " --out " + prep +
                     " --n-hvg 0 --train-gene-frac 1 --combo-seen2-train-frac 0",
                 test::scfm_binary() + " perturb predict --method baselines --in " + prep + " --out " + (t / "b")});
  // additive = truth (mse 0, pearson_delta 1) for combinations of two training singles; no-change =
  // the control mean (pearson_delta 0); mean = the mean of the training profiles
  const auto c = test::run_python(kCheck, "check-additive " + prep + " " + (t / "b"));
  EXPECT_EQ(c.exit_code, 0) << c.output;
  const json r = results(t / "b");
  EXPECT_EQ(r["method_order"], json({"no-change", "mean", "additive"}));
  EXPECT_GT(r["methods"]["additive"]["mean"]["pearson_delta"].get<double>(), 0.9);
  EXPECT_TRUE(fs::exists(t / "b/results.md"));
}

TEST(PerturbCli, FinetuneTrainsSavesAGeneratorAndPredictRepeatsItsTable) {
  const Prepared& s = prepared();
  test::TempDir t;
  const auto r = test::run_command(test::scfm_binary() + " --threads 2 perturb finetune --model " + s.run + " --in " +
                                   s.sim_prepared + " --out " + (t / "ft") +
                                   " --epochs 3 --batch-size 16 --max-train-cells 160 --lr 1e-3 --seed 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = results(t / "ft");
  EXPECT_EQ(j["method_order"], json({"scgpt", "no-change", "mean", "additive"}));
  ASSERT_EQ(j["epochs"].size(), 3u);
  EXPECT_LT(j["epochs"][2]["train_mse"].get<double>(), j["epochs"][0]["train_mse"].get<double>());
  EXPECT_GT(j["keys"]["loaded"].get<int64_t>(), 0);
  // TransformerGenerator's names, loadable by PyTorch
  const auto k = test::run_python(kCheck, "torch-keys " + (t / "ft/model/best_model.pt"));
  EXPECT_EQ(k.exit_code, 0) << k.output;
  const json args = json::parse(test::read_text(t / "ft/model/args.json"));
  EXPECT_EQ(args["pert_flags"], true);
  // predict from the saved folder: the same scgpt numbers
  const auto p = test::run_command(test::scfm_binary() + " --threads 1 perturb predict --model " + (t / "ft/model") +
                                   " --in " + s.sim_prepared + " --out " + (t / "pred"));
  ASSERT_EQ(p.exit_code, 0) << p.output;
  const json q = results(t / "pred");
  for (const char* m : {"pearson", "pearson_de", "pearson_delta", "pearson_delta_de", "mse"})
    EXPECT_NEAR(q["methods"]["scgpt"]["mean"][m].get<double>(), j["methods"]["scgpt"]["mean"][m].get<double>(), 1e-6) << m;
  EXPECT_EQ(q["conditions"], j["conditions"]);
}

TEST(PerturbCli, ScbenchTwoStageFitsItsOffsetsAndRepeatsItself) {
  const Prepared& s = prepared();
  test::TempDir t;
  const std::string cmd = test::scfm_binary() + " --threads 2 perturb predict --method scbench --model " + s.scbench_run +
                          " --in " + s.sim_prepared + " --base-epochs 4 --offset-epochs 3 --max-genes 32 --lr 0.02 --out ";
  const auto a = test::run_command(cmd + (t / "a"));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  const json j = results(t / "a");
  EXPECT_EQ(j["method_order"], json({"scbench (cls offset)", "no-change", "mean", "additive"}));
  const auto& e = j["epochs"];
  ASSERT_EQ(e.size(), 7u);
  EXPECT_LT(e[3]["mse"].get<double>(), e[0]["mse"].get<double>());  // stage 1 learns the base offset
  EXPECT_LT(e[6]["mse"].get<double>(), e[4]["mse"].get<double>());  // stage 2 the perturbation offsets
  const auto& m = j["scbench_mse"];
  EXPECT_LT(m["mse_base"].get<double>(), m["mse_no_offset"].get<double>());
  EXPECT_GT(m["n_cells"].get<int64_t>(), 0);
  // keyed by the seed: a second run gives the same numbers
  const auto b = test::run_command(cmd + (t / "b"));
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const json k = results(t / "b");
  EXPECT_EQ(k["scbench_mse"], j["scbench_mse"]);
  EXPECT_EQ(k["methods"], j["methods"]);
  // a scGPT model is refused with the verb that fits it
  const auto g = test::run_command(test::scfm_binary() + " perturb predict --method scbench --model " + s.run + " --in " +
                                   s.sim_prepared + " --out " + (t / "g"));
  expect_one_line_error(g, {"scBenchmark model", "perturb finetune"});
  EXPECT_FALSE(fs::exists(t / "g"));
}

TEST(PerturbCli, ClassifyLabelsCellsByPerturbationBesidePca) {
  const Prepared& s = prepared();
  test::TempDir t;
  test::run_all({test::scfm_binary() + " --threads 1 embed --model " + s.run + " --in " + s.sim + " --out " +
                 (t / "emb.h5ad")});
  const auto r = test::run_command(test::scfm_binary() + " --threads 2 perturb classify --in " + (t / "emb.h5ad") +
                                   " --out " + (t / "cls") + " --singles-only --trials 2 --epochs 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = results(t / "cls");
  const auto q = test::run_python(kCheck, "singles " + s.sim);
  ASSERT_EQ(q.exit_code, 0) << q.output;
  const json want = json::parse(q.output);
  EXPECT_EQ(j["classes"], want["classes"]);  // control + the 8 singles; combinations left out
  EXPECT_EQ(j["classes"].size(), 9u);
  EXPECT_EQ(j["n_labelled"], want["cells"]);
  EXPECT_TRUE(j["representations"].contains("X_scfm"));
  EXPECT_TRUE(j["representations"].contains("baseline_pca"));
  EXPECT_FALSE(fs::exists(t / "cls.labels.tmp.h5ad"));
  // a condition outside GEARS's syntax is named
  const auto b = test::run_command(test::scfm_binary() + " perturb classify --in " + (t / "emb.h5ad") +
                                   " --condition-col cell_type --out " + (t / "bad"));
  expect_one_line_error(b, {"obs/cell_type", "A+ctrl"});
  EXPECT_FALSE(fs::exists(t / "bad"));
}

TEST(PerturbCli, BadInputGivesOneLineAndWritesNothing) {
  const Prepared& s = prepared();
  test::TempDir t;
  const std::string out = t / "out.h5ad";
  struct Case {
    const char* defect;
    std::vector<std::string> parts;
  };
  for (const Case& c : {Case{"syntax", {"obs/condition", "'G4+G5+G6'", "A+ctrl"}},
                        Case{"missing-gene", {"var/gene_name", "NOTAGENE", "NOTAGENE+ctrl"}},
                        Case{"no-ctrl", {"obs/condition", "no control cells"}}}) {
    const std::string in = t / (std::string(c.defect) + ".h5ad");
    ASSERT_EQ(test::run_python(kCheck, "write-gears " + in + " " + c.defect).exit_code, 0);
    const auto r = test::run_command(test::scfm_binary() + " perturb prepare --in " + in + " --out " + out);
    std::vector<std::string> parts = c.parts;
    parts.push_back(in);
    expect_one_line_error(r, parts);
    EXPECT_FALSE(fs::exists(out)) << c.defect;
  }
  // perturbed genes the model has no token for (G0.. are not in the simulated vocabulary)
  const auto v = test::run_command(test::scfm_binary() + " perturb finetune --model " + s.run + " --in " + s.prepared +
                                   " --out " + (t / "ft"));
  expect_one_line_error(v, {"vocab.json", "not in the model's vocabulary", "G0 (G0+ctrl)"});
  EXPECT_FALSE(fs::exists(t / "ft"));
  // a file that was not prepared
  const auto u = test::run_command(test::scfm_binary() + " perturb predict --method baselines --in " + s.gears +
                                   " --out " + (t / "p"));
  expect_one_line_error(u, {s.gears, "uns/scfm_perturb", "scfm perturb prepare"});
  EXPECT_FALSE(fs::exists(t / "p"));
  // a model that is not a generator
  const auto g = test::run_command(test::scfm_binary() + " perturb predict --model " + s.run + " --in " + s.sim_prepared +
                                   " --out " + (t / "g"));
  expect_one_line_error(g, {"pert_encoder", "perturb finetune"});
  EXPECT_FALSE(fs::exists(t / "g"));
}
