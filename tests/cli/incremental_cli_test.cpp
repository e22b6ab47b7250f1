// scfm incremental end to end: the stage split (disjoint, covering, deterministic), frozen
// gene-embedding rows where --freeze old-genes holds them (checked by python3-torch on the stage
// checkpoints), the baselines in the table, exact resume after SIGKILL mid-stage, and clear errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <set>
#include <signal.h>
#include <thread>

#include "test_util.h"

using nlohmann::json;
using namespace scfm;
namespace fs = std::filesystem;

namespace {

struct Data {
  test::TempDir dir;
  std::string store, model;
  Data() {
    store = dir / "store";
    model = dir / "model";
    const std::string like = test::real_data("pbmc3k_decoupler.h5ad");
    test::run_all({test::scfm_binary() + " vocab build " + like + " --out " + (dir / "vocab.json"),
                   test::scfm_binary() + " simulate --like " + like + " --cells 400 --seed 3 --out " + store + " --vocab " +
                       (dir / "vocab.json")});
    fs::create_directories(model);
    test::write_text(model + "/args.json",
                     R"({"model_structure":"transformer","nlayers":1,"nheads":2,"embsize":16,"dropout":0.1,"train_maxseq":32})");
  }
};
Data& data() {
  static Data d;
  return d;
}

std::string cmd(const std::string& out, const std::string& extra,
                const std::string& importance = "--importance-label cell_type --importance-top 15") {
  return test::scfm_binary() + " --threads 1 incremental --model " + data().model + " --store " + data().store + " --out " + out +
         " --stages 3 --epochs 1 --batch-size 16 --lr 3e-3 --warmup-iters 3 --loader-threads 1 --log-interval 5 "
         + importance + " " + extra;
}

json check(const std::string& args) {
  auto r = test::run_python("cli/incremental_check.py", args);
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  return json::parse(r.output);
}

}  // namespace

TEST(CliIncremental, SplitIsDisjointCoveringAndDeterministic) {
  test::TempDir a, b;
  auto ra = test::run_command(cmd(a.path(), "--max-steps 3 --no-baselines"));
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  auto rb = test::run_command(cmd(b.path(), "--max-steps 3 --no-baselines"));
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  const json sa = json::parse(test::read_text(a / "stages.json")), sb = json::parse(test::read_text(b / "stages.json"));
  EXPECT_EQ(sa, sb);
  std::set<std::string> all;
  size_t total = 0;
  int64_t cells = sa["eval_cells"].get<int64_t>();
  for (const auto& st : sa["stages"]) {
    for (const auto& g : st["added"]) all.insert(g.get<std::string>());
    total += st["added"].size();
    cells += st["n_cells"].get<int64_t>();
    EXPECT_GT(st["added"].size(), 0u);
  }
  EXPECT_EQ(all.size(), total);  // disjoint
  EXPECT_EQ(static_cast<int64_t>(total), sa["n_store_genes"].get<int64_t>());  // covering the store's genes
  EXPECT_EQ(cells, 400);  // eval (40 = 10%) + stage cells
  EXPECT_EQ(sa["stages"][0]["n_cells"], 180);  // half of the 360 training cells
  // the important genes are held out of the base and all handed to the increments
  const auto& held = sa["importance"]["held_out"];
  ASSERT_GT(held.size(), 0u);
  std::set<std::string> base;
  for (const auto& g : sa["stages"][0]["added"]) base.insert(g.get<std::string>());
  for (const auto& g : held) EXPECT_EQ(base.count(g.get<std::string>()), 0u) << g;
  // another seed, another split
  test::TempDir c;
  auto rc = test::run_command(cmd(c.path(), "--max-steps 1 --no-baselines --seed 9"));
  ASSERT_EQ(rc.exit_code, 0) << rc.output;
  EXPECT_NE(json::parse(test::read_text(c / "stages.json"))["stages"][1]["added"], sa["stages"][1]["added"]);
}

TEST(CliIncremental, FreezeHoldsEarlierRowsAndTheTableHasBothBaselines) {
  // carrying the optimiser is the hard case: Adam's moments would move rows whose gradient is 0
  test::TempDir frozen, free;
  auto rf = test::run_command(cmd(frozen.path(), "--max-steps 4 --optimizer carry --freeze old-genes"));
  ASSERT_EQ(rf.exit_code, 0) << rf.output;
  const json f = check("rows " + frozen.path() + " incremental");
  for (const char* k : {"1,0", "2,0", "2,1"}) EXPECT_TRUE(f[k].get<bool>()) << k << " " << f.dump();
  EXPECT_TRUE(f["new 1"].get<bool>() && f["new 2"].get<bool>()) << f.dump();  // the new rows do train
  auto rn = test::run_command(cmd(free.path(), "--max-steps 4 --optimizer carry --no-baselines"));
  ASSERT_EQ(rn.exit_code, 0) << rn.output;
  const json n = check("rows " + free.path() + " incremental");
  EXPECT_FALSE(n["1,0"].get<bool>()) << n.dump();  // without the freeze the base rows move
  // the naive baseline sees only the new genes: with a fresh Adam the base rows get no update
  const json nv = check("rows " + frozen.path() + " naive");
  EXPECT_TRUE(nv["2,0"].get<bool>()) << nv.dump();
  // the table: each method after each stage, "-" for sets not seen yet; forgetting rows
  const std::string md = test::read_text(frozen / "results.md");
  for (const char* s : {"| incremental | 0 |", "| naive | 2 |", "| joint | 2 |", "Forgetting", "forgetting.svg"})
    EXPECT_NE(md.find(s), std::string::npos) << s << "\n" << md;
  const json r = json::parse(test::read_text(frozen / "results.json"));
  EXPECT_TRUE(r["methods"]["incremental"]["stages"][0]["mse"][1].is_null());
  EXPECT_TRUE(r["methods"]["incremental"]["stages"][2]["mse"][2].is_number());
  EXPECT_EQ(r["methods"]["naive"]["stages"][0], r["methods"]["incremental"]["stages"][0]);  // shared stage 0
  const std::string svg = test::read_text(frozen / "forgetting.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("data-name=\"joint: base\""), std::string::npos);
}

TEST(CliIncremental, KilledRunResumesToTheSameWeights) {
  test::TempDir full, tmp;
  const std::string killed = tmp / "run";
  const std::string extra = "--checkpoint-every 1";
  auto r = test::run_command(cmd(full.path(), extra));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto bg = test::run_command(cmd(killed, extra) + " > " + (tmp / "log.txt") + " 2>&1 & echo $!");
  const pid_t pid = std::stoi(bg.output);
  const std::string marker = killed + "/incremental/stage1/train_state.pt";
  for (int i = 0; i < 3000 && !fs::exists(marker); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(marker)) << test::read_text(tmp / "log.txt");
  EXPECT_FALSE(fs::exists(killed + "/incremental/model-stage2.pt"));  // stopped part-way
  // without --resume a non-empty folder is refused
  auto again = test::run_command(cmd(killed, extra));
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
  auto resumed = test::run_command(cmd(killed, extra + " --resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const json eq = check("equal " + full.path() + " " + killed);
  EXPECT_TRUE(eq["same_files"].get<bool>()) << eq.dump();
  EXPECT_EQ(eq["files"].size(), 6u) << eq.dump();  // incremental 0-2, naive 1-2 (stage 0 shared), joint 0
  EXPECT_TRUE(eq["equal"].get<bool>()) << eq.dump();
  const json a = json::parse(test::read_text(full / "results.json")), b = json::parse(test::read_text(killed + "/results.json"));
  EXPECT_EQ(a["methods"], b["methods"]);
  // resuming with other options is refused (the split would differ)
  auto other = test::run_command(cmd(killed, extra + " --resume --seed 5"));
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.output.find("stages.json"), std::string::npos) << other.output;
}

TEST(CliIncremental, BadInputIsNamed) {
  test::TempDir out;
  test::write_text(out / "stages.json", R"([["CD3D", "NOT_A_GENE_1"], ["MS4A1", "NOT_A_GENE_2"], ["LYZ"]])");
  auto r = test::run_command(cmd(out / "run", "--stages-file " + (out / "stages.json") + " --max-steps 1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("NOT_A_GENE_1, NOT_A_GENE_2"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "run/incremental"));
  auto l = test::run_command(cmd(out / "run2", "--max-steps 1", "--importance-label no_such_column"));
  EXPECT_NE(l.exit_code, 0);
  EXPECT_NE(l.output.find("no_such_column"), std::string::npos) << l.output;
}
