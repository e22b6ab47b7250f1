// Gene programs (eval/gene_programs): planted groups of gene vectors found again, the correlation
// baseline's vectors, and scanpy's score_genes against a numpy/pandas replay of scanpy 1.9
// (tests/eval/score_genes_reference.py), random control draws included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "scfm/eval/cluster_metrics.h"
#include "scfm/eval/gene_programs.h"
#include "scfm/eval/plot.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"
#include "test_util.h"

using namespace scfm::eval;
using nlohmann::json;

namespace {

double uniform(uint64_t key) { return scfm::test::keyed_uniform(key); }
double normal(uint64_t key) { return scfm::test::keyed_normal(key); }

// `groups` directions in d dimensions, `per` genes around each (noise `noise`), rows shuffled.
struct Planted {
  std::vector<float> x;
  std::vector<int32_t> group;
  int64_t n, d;
};
Planted planted(int groups, int per, int64_t d, double noise, uint64_t seed) {
  Planted p{{}, {}, static_cast<int64_t>(groups) * per, d};
  p.x.resize(static_cast<size_t>(p.n * d));
  for (int64_t i = 0; i < p.n; ++i) {
    const int32_t g = static_cast<int32_t>((i * 7) % groups);  // interleaved, not blocks
    p.group.push_back(g);
    for (int64_t c = 0; c < d; ++c)
      p.x[i * d + c] = static_cast<float>(normal(seed * 1000003 + g * 997 + c) + noise * normal(seed * 7 + 5000000 + i * d + c));
  }
  return p;
}

TEST(GenePrograms, PlantedGroupsAreFoundAndSmallCommunitiesDropped) {
  const Planted p = planted(6, 20, 16, 0.35, 3);
  GeneProgramOptions o;
  o.resolution = 1;
  const GenePrograms gp = gene_programs({p.x.data(), p.n, p.d}, o);
  EXPECT_NEAR(ari(p.group, gp.community), 1.0, 1e-12);
  ASSERT_EQ(gp.programs.size(), 6u);
  for (const auto& prog : gp.programs) {
    EXPECT_EQ(prog.size(), 20u);
    EXPECT_TRUE(std::is_sorted(prog.begin(), prog.end()));
    for (int64_t g : prog) EXPECT_EQ(p.group[g], p.group[prog[0]]);
  }
  // equal sizes: ordered by first gene
  for (size_t k = 1; k < gp.programs.size(); ++k) EXPECT_LT(gp.programs[k - 1][0], gp.programs[k][0]);
  for (int64_t g = 0; g < p.n; ++g) {
    ASSERT_GE(gp.program_of[g], 0);
    const auto& prog = gp.programs[gp.program_of[g]];
    EXPECT_TRUE(std::binary_search(prog.begin(), prog.end(), g));
  }
  // cosine: scaling a gene's vector changes nothing
  std::vector<float> scaled = p.x;
  for (int64_t c = 0; c < p.d; ++c) scaled[5 * p.d + c] *= 40.f;
  EXPECT_EQ(gene_programs({scaled.data(), p.n, p.d}, o).community, gp.community);
  // a minimum size above every community leaves no program
  o.min_size = 21;
  const GenePrograms none = gene_programs({p.x.data(), p.n, p.d}, o);
  EXPECT_TRUE(none.programs.empty());
  for (int32_t v : none.program_of) EXPECT_EQ(v, -1);
}

TEST(GenePrograms, RefusesRowsWithoutDirection) {
  Planted p = planted(2, 5, 4, 0.1, 1);
  for (int64_t c = 0; c < p.d; ++c) p.x[3 * p.d + c] = 0;
  try {
    gene_programs({p.x.data(), p.n, p.d}, {});
    FAIL() << "no error";
  } catch (const scfm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gene_programs({p.x.data(), 1, p.d}, {}), scfm::Error);
}

TEST(GenePrograms, ExpressionProfilesGiveThePearsonCorrelation) {
  scfm::io::CsrMatrix m;
  m.n_rows = 5;
  m.n_cols = 4;
  const double dense[5][4] = {{1, 0, 2, 3}, {2, 0, 0, 3}, {0, 5, 1, 3}, {4, 1, 0, 3}, {3, 0, 2, 3}};
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 4; ++c)
      if (dense[r][c] != 0) {
        m.indices.push_back(c);
        m.data.push_back(static_cast<float>(dense[r][c]));
      }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  std::vector<int32_t> constant;
  const std::vector<float> prof = expression_profiles(m, {2, 0, 3}, &constant);
  ASSERT_EQ(prof.size(), 15u);
  EXPECT_EQ(constant, std::vector<int32_t>{3});
  for (int r = 0; r < 5; ++r) EXPECT_EQ(prof[2 * 5 + r], 0.f);
  // Pearson correlation of columns 2 and 0 by hand
  double ma = 0, mb = 0;
  for (int r = 0; r < 5; ++r) ma += dense[r][2] / 5, mb += dense[r][0] / 5;
  double sab = 0, saa = 0, sbb = 0;
  for (int r = 0; r < 5; ++r) {
    sab += (dense[r][2] - ma) * (dense[r][0] - mb);
    saa += (dense[r][2] - ma) * (dense[r][2] - ma);
    sbb += (dense[r][0] - mb) * (dense[r][0] - mb);
  }
  double dot = 0;
  for (int r = 0; r < 5; ++r) dot += double(prof[r]) * prof[5 + r];
  EXPECT_NEAR(dot, sab / std::sqrt(saa * sbb), 1e-6);
}

TEST(GenePrograms, ScoreGenesMatchesScanpysAlgorithmAndDraws) {
  const int64_t cells = 40, genes = 600;
  scfm::io::CsrMatrix m;
  m.n_rows = cells;
  m.n_cols = genes;
  json dense = json::array();
  for (int64_t r = 0; r < cells; ++r) {
    json row = json::array();
    for (int64_t g = 0; g < genes; ++g) {
      // genes of distinct typical levels, half the entries zero; values exact in float32
      const double u = uniform(r * genes + g + 17);
      const float v = u < 0.5 ? 0.f : static_cast<float>(std::floor((1 + g % 97) * u * 8) / 8);
      row.push_back(v);
      if (v != 0) {
        m.indices.push_back(static_cast<int32_t>(g));
        m.data.push_back(v);
      }
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
    dense.push_back(row);
  }
  const std::vector<std::vector<int32_t>> sets = {{3, 50, 97, 400}, {10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, {599}};
  ScoreGenesOptions o;
  o.ctrl_size = 10;  // below the 25 genes of a bin, so which ones are drawn matters
  std::vector<std::vector<int32_t>> control;
  const std::vector<double> s = score_genes(m, sets, o, &control);
  scfm::test::TempDir dir;
  scfm::test::write_text(dir / "in.json",
                         json{{"dense", dense}, {"sets", sets}, {"ctrl_size", 10}, {"n_bins", 25}, {"seed", 0}}.dump());
  const auto r = scfm::test::run_python("eval/score_genes_reference.py", (dir / "in.json") + " " + (dir / "out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json ref = json::parse(scfm::test::read_text(dir / "out.json"));
  for (size_t k = 0; k < sets.size(); ++k) {
    EXPECT_EQ(control[k], ref["control"][k].get<std::vector<int32_t>>()) << "set " << k;
    for (int64_t c = 0; c < cells; ++c) EXPECT_NEAR(s[k * cells + c], ref["scores"][k][c].get<double>(), 1e-5) << k << "," << c;
  }
  EXPECT_THROW(score_genes(m, {{}}, o), scfm::Error);
  EXPECT_THROW(score_genes(m, {{600}}, o), scfm::Error);
}

TEST(Plot, HeatmapHasOneCellPerValueAndChecksSizes) {
  Heatmap h;
  h.title = "t<1>";
  h.rows = {"a", "b"};
  h.columns = {"P0", "P1", "P2"};
  h.values = {1, -1, 0, 0.5, NAN, 2};
  const std::string svg = heatmap_svg(h);
  size_t cells = 0;
  for (size_t at = svg.find("class=\"cell\""); at != std::string::npos; at = svg.find("class=\"cell\"", at + 1)) ++cells;
  EXPECT_EQ(cells, 6u);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("#b2182b"), std::string::npos);  // the largest value saturates
  EXPECT_NE(svg.find("#dddddd"), std::string::npos);  // NaN is grey
  h.values.pop_back();
  EXPECT_THROW(heatmap_svg(h), scfm::Error);
}

}  // namespace
