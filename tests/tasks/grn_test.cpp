// scfm grn programs: the gene vectors are the model's gene embeddings in the order of the genes,
// the programs are eval::gene_programs of them, the per-cell scores are scanpy's score_genes of
// the programs on log1p(normalize_total) of the counts (anndata reads them back), the group table
// averages them, the result does not depend on threads, and bad input fails in one line with
// nothing written.
#include <gtest/gtest.h>

#include <torch/csrc/autograd/grad_mode.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "scfm/eval/dataset.h"
#include "scfm/eval/gene_programs.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/pp/normalize.h"
#include "scfm/tasks/grn.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
using nlohmann::json;

namespace {

const test::TinyRun& setup() { return test::tiny_pbmc_small_run(); }

std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream ls(line);
    for (std::string x; std::getline(ls, x, ',');) f.push_back(x);
    if (!line.empty() && line.back() == ',') f.push_back("");
    rows.push_back(f);
  }
  return rows;
}

TEST(GrnPrograms, ProgramsAndScoresFollowTheirDefinitions) {
  test::TempDir tmp;
  tasks::GrnProgramsOptions o;
  o.model_dir = setup().run;
  o.input = setup().cells;
  o.out_dir = tmp / "out";
  o.write_h5ad = tmp / "scored.h5ad";
  o.group_col = "groups";
  o.resolution = 2;
  o.min_size = 3;
  const json r = tasks::grn_programs(o);
  ASSERT_GE(r["n_programs"].get<int>(), 2) << r.dump();

  // the genes, in file order, and their programs from the model's own gene embeddings
  const io::AnnData ad = io::read_h5ad(setup().cells);
  const io::Vocab vocab = io::Vocab::load(setup().run + "/vocab.json");
  const auto var = ad.var_names();
  const auto rows = csv_rows(test::read_text(tmp / "out/genes.csv"));
  ASSERT_EQ(rows.size(), var.size() + 1);
  std::vector<int64_t> ids;
  for (size_t j = 0; j < var.size(); ++j) {
    EXPECT_EQ(rows[j + 1][0], var[j]);
    ids.push_back(vocab.id(var[j]));
  }
  auto model = model::load_pretrain_model(setup().run);
  model->module().eval();
  torch::NoGradGuard ng;
  at::Tensor e = model->gene_embeddings(at::tensor(ids, at::kLong)).contiguous();
  eval::GeneProgramOptions po;
  po.resolution = 2;
  po.min_size = 3;
  const eval::GenePrograms gp = eval::gene_programs({e.data_ptr<float>(), e.size(0), e.size(1)}, po);
  ASSERT_EQ(static_cast<int64_t>(gp.programs.size()), r["n_programs"].get<int64_t>());
  for (size_t j = 0; j < var.size(); ++j) {
    EXPECT_EQ(rows[j + 1][1], std::to_string(gp.community[j])) << var[j];
    EXPECT_EQ(rows[j + 1][2], gp.program_of[j] >= 0 ? "P" + std::to_string(gp.program_of[j]) : "") << var[j];
  }

  // scores: score_genes on log1p(normalize_total 1e4) of the counts, read back through anndata
  io::CsrMatrix x = ad.matrix_csr();
  pp::NormalizeTotalOptions no;
  no.target_sum = 1e4;
  pp::normalize_total(x, no);
  pp::log1p(x);
  std::vector<std::vector<int32_t>> sets;
  for (const auto& p : gp.programs) sets.emplace_back(p.begin(), p.end());
  const std::vector<double> want = eval::score_genes(x, sets);
  const auto py = test::run_python("tasks/grn_check.py", o.write_h5ad + " " + (tmp / "check.json"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const json got = json::parse(test::read_text(tmp / "check.json"));
  const int64_t n = x.n_rows, k = static_cast<int64_t>(sets.size());
  ASSERT_EQ(got["shape"], (std::vector<int64_t>{n, k}));
  EXPECT_EQ(got["names"][0], "P0");
  for (int64_t p = 0; p < k; ++p)
    for (int64_t c = 0; c < n; ++c) EXPECT_NEAR(got["scores"][c][p].get<double>(), want[p * n + c], 1e-5);
  // the group table: the mean of the cells' scores per obs["groups"] (pandas groupby in the check)
  for (auto& [group, means] : got["group_means"].items())
    for (int64_t p = 0; p < k; ++p)
      EXPECT_NEAR(r["group_scores"][group]["mean_scores"][p].get<double>(), means[p].get<double>(), 1e-5) << group;
  EXPECT_TRUE(std::filesystem::exists(tmp / "out/heatmap.svg"));
}

TEST(GrnPrograms, SameResultWithOneAndTwoThreads) {
  test::TempDir tmp;
  const std::string base = " grn programs --model " + setup().run + " --in " + setup().cells + " --resolution 2 --hvg 100";
  test::run_all({test::scfm_binary() + " --threads 1" + base + " --out " + (tmp / "a"),
                 test::scfm_binary() + " --threads 2" + base + " --out " + (tmp / "b")});
  EXPECT_EQ(test::read_text(tmp / "a/genes.csv"), test::read_text(tmp / "b/genes.csv"));
  EXPECT_EQ(test::read_text(tmp / "a/results.csv"), test::read_text(tmp / "b/results.csv"));
  EXPECT_EQ(csv_rows(test::read_text(tmp / "a/genes.csv")).size(), 101u);
}

TEST(GrnPrograms, BadInputIsOneLineAndWritesNothing) {
  test::TempDir tmp;
  const std::string s = test::scfm_binary() + " grn programs --model " + setup().run + " --out " + (tmp / "out");
  struct Case {
    std::string args;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {" --genes CD3D,NOTAGENE1,MS4A1,NOTAGENE2", {"2 of the --genes are not in the model's vocabulary", "NOTAGENE1, NOTAGENE2"}},
      {" --in " + setup().cells + " --group-col nosuch", {"obs/nosuch", "no such group column", "groups"}},
      {"", {"give the genes (--genes) or a dataset (--in"}},
      {" --genes CD3D", {"1 gene(s) selected"}},
      {" --genes @" + (tmp / "missing.txt"), {"missing.txt: cannot open the gene list"}},
      {" --in " + setup().cells + " --genes MS4A1,CD79B,CD79A,HLA-DRA,TCL1A,HLA-DQB1 --write-h5ad " + (tmp / "s.h5ad"),
       {"per-cell scores need at least 13 selected genes", "6 selected"}},
  };
  for (const Case& c : cases) {
    const auto r = test::run_command(s + c.args + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    for (const auto& w : c.says) EXPECT_NE(r.output.find(w), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(std::filesystem::exists(tmp / "out")) << c.args;
  }
  for (const auto& f : std::filesystem::directory_iterator(tmp.path()))
    EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
}

TEST(GrnPrograms, FewGenesGiveProgramsWithoutScores) {
  // 6 genes, all within each other's 15 neighbours, at resolution 40: Leiden ends (it looped
  // forever in igraph's own iteration), every gene is its own community, and no per-cell scores
  // (scanpy's 25 expression bins need 13 genes) are promised
  test::TempDir tmp;
  tasks::GrnProgramsOptions o;
  o.model_dir = setup().run;
  o.input = setup().cells;
  o.out_dir = tmp / "out";
  o.genes = {"MS4A1", "CD79B", "CD79A", "HLA-DRA", "TCL1A", "HLA-DQB1"};
  o.min_size = 1;
  const json r = tasks::grn_programs(o);
  EXPECT_EQ(r["n_genes"], 6);
  EXPECT_EQ(r["n_communities"], 6);
  EXPECT_FALSE(r.contains("group_scores"));
  EXPECT_NE(test::read_text(tmp / "out/results.md").find("No per-cell scores"), std::string::npos);
}

}  // namespace
