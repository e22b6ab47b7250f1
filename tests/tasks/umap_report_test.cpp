// scfm umap and scfm report end to end: the layout scanpy users read (obsm['X_umap'],
// uns['umap']) against umap-learn's on the same embedding (tests/eval/umap_check.py:
// trustworthiness within 0.02), clear errors that write nothing, and the HTML report opened in
// headless Chromium (tests/tasks/report_browser_check.py: no console errors, the figures and
// every scatter point present, a screenshot that is not blank).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "test_util.h"

using nlohmann::json;
using namespace scfm;
namespace fs = std::filesystem;

namespace {

// pbmc3k (160 real cells) with scfm's PCA of its counts in obsm['X_pca']
struct Pbmc3kPca {
  test::TempDir dir;
  std::string file;
  Pbmc3kPca() {
    file = dir / "pca.h5ad";
    test::run_all({test::scfm_binary() + " metrics --in " + test::real_data("pbmc3k_decoupler.h5ad") +
                   " --pseudo-batches 2 --label-col cell_type --out " + (dir / "m") + " --write-h5ad " + file});
  }
};
const Pbmc3kPca& pbmc3k() {
  static Pbmc3kPca d;
  return d;
}

json umap_learn_check(const std::string& file, const std::string& key) {
  const auto r = test::run_python("eval/umap_check.py", file + " " + key);
  if (r.exit_code != 0) throw std::runtime_error("umap_check.py: " + r.output);
  return json::parse(r.output.substr(r.output.find('{')));
}

}  // namespace

TEST(UmapCli, TrustworthinessWithinUmapLearnsOnRealCells) {
  test::TempDir out;
  // pbmc3k: PCA of the counts; pbmc_small: Seurat's own PCA in the file
  for (const auto& [in, key] : std::vector<std::pair<std::string, std::string>>{
           {pbmc3k().file, "X_pca"}, {test::real_data("pbmc_small.h5ad"), "X_pca"}}) {
    const std::string file = out / (fs::path(in).stem().string() + "_umap.h5ad");
    const auto r = test::run_command(test::scfm_binary() + " umap --in " + in + " --embedding " + key + " --out " + file +
                                     " --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json c = umap_learn_check(file, key);
    EXPECT_GT(c["trustworthiness_scfm"].get<double>(), 0.75) << c.dump();
    EXPECT_LE(c["gap"].get<double>(), 0.02) << c.dump();
  }
}

TEST(UmapCli, PlotsColourEveryCellAndErrorsWriteNothing) {
  test::TempDir out;
  const auto r = test::run_command(test::scfm_binary() + " umap --in " + pbmc3k().file + " --embedding X_pca --out " +
                                   (out / "u.h5ad") + " --color cell_type,percent_mt --plot-dir " + (out / "plots"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string svg = test::read_text(out / "plots/umap_cell_type.svg");
  EXPECT_NE(svg.find("data-points=\"160\""), std::string::npos);
  EXPECT_NE(svg.find(">Naive CD4 T</text>"), std::string::npos);
  EXPECT_NE(test::read_text(out / "plots/umap_percent_mt.svg").find("linearGradient"), std::string::npos);
  // a missing embedding and a missing colour column: one line naming the element, no file
  const auto bad_key = test::run_command(test::scfm_binary() + " umap --in " + pbmc3k().file + " --embedding X_nope --out " +
                                         (out / "bad.h5ad"));
  EXPECT_NE(bad_key.exit_code, 0);
  EXPECT_NE(bad_key.output.find("obsm/X_nope"), std::string::npos) << bad_key.output;
  const auto bad_col = test::run_command(test::scfm_binary() + " umap --in " + pbmc3k().file + " --embedding X_pca --out " +
                                         (out / "bad.h5ad") + " --color no_such_col");
  EXPECT_NE(bad_col.exit_code, 0);
  EXPECT_NE(bad_col.output.find("obs/no_such_col"), std::string::npos) << bad_col.output;
  EXPECT_FALSE(fs::exists(out / "bad.h5ad"));
  for (const auto& e : fs::directory_iterator(out.path())) EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos);
}

TEST(ReportCli, OpensInChromiumWithoutErrorsAndShowsEveryPlot) {
  const test::TinyRun& t = test::tiny_pbmc_small_run();
  test::TempDir out;
  const std::string s = test::scfm_binary() + " --threads 1 ";
  test::run_all({s + "embed --model " + t.run + " --in " + t.cells + " --out " + (out / "emb.h5ad"),
                 s + "classify --in " + (out / "emb.h5ad") + " --embedding X_scfm --label-col groups --out " +
                     (out / "classify") + " --trials 2"});
  const auto r = test::run_command(s + "report " + t.run + " " + (out / "classify") + " --h5ad " + (out / "emb.h5ad") +
                                   " --color groups,nCount_RNA --title 'tiny report' --out " + (out / "report.html"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // run: loss + learning-rate charts; classify: 4 confusion matrices; cells: 2 scatter plots
  const auto b = test::run_python("tasks/report_browser_check.py", (out / "report.html") + " " + (out / "shot.png") +
                                                                       " --min-figures 7 --scatter-points 80");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const json found = json::parse(b.output.substr(b.output.find('{')));
  EXPECT_EQ(found["title"], "tiny report");
  EXPECT_EQ(found["sections"].get<int>(), 3);
  EXPECT_EQ(found["scatters"].size(), 2u);
  EXPECT_GE(found["tables"].get<int>(), 3);  // settings + the classify tables
  EXPECT_TRUE(found["console_errors"].empty());
  EXPECT_GT(fs::file_size(out / "shot.png"), 10000u);
  // a folder with nothing a report knows is refused by name
  test::TempDir empty;
  const auto e = test::run_command(s + "report " + empty.path() + " --out " + (out / "r2.html"));
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.output.find(empty.path()), std::string::npos) << e.output;
  EXPECT_FALSE(fs::exists(out / "r2.html"));
}
