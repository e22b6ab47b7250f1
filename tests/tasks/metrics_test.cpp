// scfm metrics end to end: the report's rows and the scib identities, the same results with 1 and
// 2 threads, the --write-h5ad copy read by python3-anndata, and bad input refused with one line
// and nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace scfm;
using nlohmann::json;

namespace {

struct Data {
  test::TempDir dir;
  std::string three, one;
  Data() {
    const std::string s = test::scfm_binary() + " --threads 1 ";
    three = dir / "three.h5ad";
    one = dir / "one.h5ad";
    test::run_all({s + "simulate --like " + test::real_data("pbmc3k_decoupler.h5ad") +
                       " --label-col cell_type --cells 900 --batches 3 --batch-strength 0.5 --seed 4 --out " + three,
                   s + "simulate --like " + test::real_data("pbmc3k_decoupler.h5ad") +
                       " --label-col cell_type --cells 300 --batches 1 --seed 4 --out " + one});
  }
};
const Data& data() {
  static const Data d;
  return d;
}

json metrics_json(const std::string& args, int threads) {
  const auto r = test::run_command(test::scfm_binary() + " --threads " + std::to_string(threads) + " metrics " + args +
                                   " --json");
  if (r.exit_code != 0) throw std::runtime_error("scfm metrics failed:\n" + r.output);
  return json::parse(r.output);
}

// results without timings
json strip_seconds(json j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto& [k, v] : j.items())
      if (k.rfind("seconds", 0) != 0) out[k] = strip_seconds(v);
    return out;
  }
  if (j.is_array())
    for (auto& v : j) v = strip_seconds(v);
  return j;
}

}  // namespace

TEST(MetricsCli, PcaAndHarmonyRowsSameWithOneAndTwoThreadsAndCopyReadsInAnndata) {
  const Data& d = data();
  test::TempDir out;
  const std::string args = "--in " + d.three + " --batch-col batch --label-col cell_type --out " + (out / "r") +
                           " --write-h5ad " + (out / "copy.h5ad");
  const json one = metrics_json(args, 1), two = metrics_json(args, 2);
  EXPECT_EQ(strip_seconds(one["methods"]), strip_seconds(two["methods"]));
  ASSERT_EQ(one["method_order"].size(), 2u);
  const json& pca = one["methods"]["PCA (unintegrated)"]["metrics"];
  const json& har = one["methods"]["Harmony (on the PCA)"]["metrics"];
  // the unintegrated PCA is its own PCR reference
  EXPECT_DOUBLE_EQ(pca["PCR_batch"].get<double>(), 0.0);
  // a strong batch effect: PCA leaves batches apart, Harmony mixes them and keeps the types
  EXPECT_LT(pca["iLISI"].get<double>(), 0.35);
  EXPECT_GT(har["iLISI"].get<double>(), pca["iLISI"].get<double>() + 0.3);
  EXPECT_GT(har["avg_batch"].get<double>(), pca["avg_batch"].get<double>());
  EXPECT_GT(har["NMI_cluster/label"].get<double>(), 0.8);
  for (const json* m : {&pca, &har}) {
    EXPECT_NEAR((*m)["overall"].get<double>(), 0.6 * (*m)["avg_bio"].get<double>() + 0.4 * (*m)["avg_batch"].get<double>(), 1e-12);
    for (const auto& [k, v] : m->items())
      if (!v.is_null() && k != "overall") {
        EXPECT_GE(v.get<double>(), -1e-12) << k;
        EXPECT_LE(v.get<double>(), 1 + 1e-12) << k;
      }
  }
  for (const char* f : {"results.json", "results.md", "results.csv"}) EXPECT_TRUE(std::filesystem::exists(out / ("r/" + std::string(f))));
  const auto r = test::run_python("tasks/metrics_check.py", "read " + (out / "copy.h5ad") + " X_pca X_pca_harmony");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("X_pca 900 50 finite=True"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("X_pca_harmony 900 50 finite=True"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("obs scfm_leiden_X_pca scfm_leiden_X_pca_harmony"), std::string::npos) << r.output;
}

TEST(MetricsCli, BadInputGivesOneLineAndWritesNothing) {
  const Data& d = data();
  test::TempDir out;
  const auto nan = test::run_python("tasks/metrics_check.py", "nan-labels " + d.three + " " + (out / "nan.h5ad"));
  ASSERT_EQ(nan.exit_code, 0) << nan.output;
  struct Case {
    std::string args, expect;
  };
  const std::vector<Case> cases{
      {"--in " + d.three + " --batch-col donor", "obs/donor: no such batch column"},
      {"--in " + d.one + " --batch-col batch", "only one batch"},
      {"--in " + (out / "nan.h5ad") + " --batch-col batch", "3 of 900 cells have no label"},
      {"--in " + d.three + " --batch-col batch --embedding X_nothing --no-baselines", "obsm/X_nothing"},
  };
  for (const Case& c : cases) {
    const std::string dir = out / "never";
    const auto r = test::run_command(test::scfm_binary() + " metrics " + c.args + " --label-col cell_type --out " + dir +
                                     " --write-h5ad " + (out / "never.h5ad") + " 2>&1");
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir)) << c.args;
    EXPECT_FALSE(std::filesystem::exists(out / "never.h5ad")) << c.args;
  }
}

TEST(MetricsCli, PseudoBatchesOnPbmc3kMixPerfectly) {
  // random pseudo-batches carry no signal: every method's batch mixing is near perfect
  test::TempDir out;
  const json r = metrics_json("--in " + test::real_data("pbmc3k_decoupler.h5ad") +
                                  " --pseudo-batches 2 --label-col cell_type --out " + (out / "r"),
                              2);
  for (const char* m : {"PCA (unintegrated)", "Harmony (on the PCA)"}) {
    const json& x = r["methods"][m]["metrics"];
    EXPECT_GT(x["iLISI"].get<double>(), 0.7) << m;
    EXPECT_GT(x["ASW_label/batch"].get<double>(), 0.85) << m;
  }
  EXPECT_EQ(r["batches"], json({"pseudo0", "pseudo1"}));
}
