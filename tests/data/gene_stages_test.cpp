// Gene-incremental stages: deterministic, disjoint increments that cover the vocabulary, each mode's
// visibility rule, and scBenchmark's importance rank rules on a hand-made case with a known answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "scfm/data/gene_stages.h"
#include "scfm/util/error.h"

using namespace scfm::data;

namespace {

std::vector<int32_t> iota_ids(int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

bool contains_all(const std::vector<int32_t>& sorted, const std::vector<int32_t>& items) {
  return std::all_of(items.begin(), items.end(), [&](int32_t g) { return std::binary_search(sorted.begin(), sorted.end(), g); });
}

}  // namespace

TEST(GeneStages, DisjointCoveringDeterministicIncrements) {
  const std::vector<int32_t> genes = iota_ids(103), specials = {103, 104, 105};
  const std::vector<int32_t> held = {7, 50, 99, 3, 64};
  GeneStagesOptions o;
  o.num_stages = 4;
  o.base_ratio = 0.5;
  o.seed = 11;
  const GeneStages s = make_gene_stages(genes, specials, held, {2, 0, 3}, o);
  ASSERT_EQ(s.added.size(), 4u);
  ASSERT_EQ(s.visible.size(), 4u);
  // disjoint, and together every gene once
  std::multiset<int32_t> all;
  for (const auto& a : s.added) all.insert(a.begin(), a.end());
  EXPECT_EQ(all, std::multiset<int32_t>(genes.begin(), genes.end()));
  // base: int(98 * 0.5) = 49 genes, none held out; increments 49 split 17/16/16 plus 2/0/3 held-out
  EXPECT_EQ(s.added[0].size(), 49u);
  for (int32_t g : held) EXPECT_FALSE(std::binary_search(s.added[0].begin(), s.added[0].end(), g));
  EXPECT_EQ(s.added[1].size(), 17u + 2u);
  EXPECT_EQ(s.added[2].size(), 16u);
  EXPECT_EQ(s.added[3].size(), 16u + 3u);
  EXPECT_TRUE(contains_all(s.added[1], {7, 50}));
  EXPECT_TRUE(contains_all(s.added[3], {99, 3, 64}));
  // cumulative: each stage sees the earlier ones, specials always
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(std::is_sorted(s.visible[i].begin(), s.visible[i].end()));
    EXPECT_TRUE(contains_all(s.visible[i], specials));
    for (size_t j = 0; j <= i; ++j) EXPECT_TRUE(contains_all(s.visible[i], s.added[j]));
  }
  EXPECT_EQ(s.visible[3].size(), 106u);
  // keyed by the seed
  EXPECT_EQ(make_gene_stages(genes, specials, held, {2, 0, 3}, o).added, s.added);
  o.seed = 12;
  EXPECT_NE(make_gene_stages(genes, specials, held, {2, 0, 3}, o).added[0], s.added[0]);
}

TEST(GeneStages, IncreOnlyAndKeepBaseIdModes) {
  const std::vector<int32_t> genes = iota_ids(40), specials = {40, 41};
  GeneStagesOptions o;
  o.num_stages = 3;
  o.incre_only = true;
  const GeneStages a = make_gene_stages(genes, specials, {5, 6}, {}, o);
  for (size_t i = 1; i < 3; ++i) {  // only the stage's own genes (and the specials)
    std::vector<int32_t> want = a.added[i];
    want.insert(want.end(), specials.begin(), specials.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(a.visible[i], want);
  }
  EXPECT_TRUE(contains_all(a.added[1], {5}));  // even share of the held-out genes: one each
  EXPECT_TRUE(contains_all(a.added[2], {6}));
  o.incre_only = false;
  o.keep_base_id = true;
  const GeneStages b = make_gene_stages(genes, specials, {5, 6}, {}, o);
  EXPECT_EQ(b.added[0].size(), 38u);  // every gene but the held-out ones from the start
  EXPECT_EQ(b.added[1], std::vector<int32_t>{5});
  EXPECT_EQ(b.visible[2].size(), 42u);
  o.num_stages = 1;
  EXPECT_EQ(make_gene_stages(genes, specials, {5}, {}, o).visible[0].size(), 42u);  // one stage: all
}

TEST(GeneStages, BadSettingsAreRefused) {
  GeneStagesOptions o;
  EXPECT_THROW(make_gene_stages(iota_ids(10), {}, {3}, {5, 0}, o), scfm::Error);   // asks for 5 of 1
  EXPECT_THROW(make_gene_stages(iota_ids(10), {}, {30}, {}, o), scfm::Error);      // not a gene
  EXPECT_THROW(make_gene_stages(iota_ids(10), {}, {3}, {1}, o), scfm::Error);      // 1 count for 2 increments
  o.num_stages = 0;
  EXPECT_THROW(make_gene_stages(iota_ids(10), {}, {}, {}, o), scfm::Error);
}

TEST(ImportantGenes, RankRulesOnAHandMadeCase) {
  // keep_rank1 2, keep_rank2 4. Gene 10: best position 0 in one list only -> kept there (rule 3);
  // 11: above 2 in two lists -> removed (rule 2); 12: above 2 only in list 2 -> kept there;
  // 14: best 3, in [2, 4] -> kept at its first such occurrence, list 0 (rule 4); 15: best 5 > 4
  // -> removed everywhere (rule 1); genes in one list stay.
  const std::vector<std::vector<int32_t>> r = {{10, 11, 12, 13, 14, 15}, {11, 20, 10, 21, 16, 15},
                                               {30, 12, 31, 14, 33, 15}};
  const ImportantGenes g = select_important(r, 6, 2, 4);
  EXPECT_EQ(g.genes, (std::vector<int32_t>{10, 13, 14, 20, 21, 16, 30, 12, 31, 33}));
  EXPECT_EQ(g.per_list, (std::vector<int64_t>{3, 3, 4}));
  EXPECT_EQ(aggregate_counts(g.per_list, 2), (std::vector<int64_t>{6, 4}));
  // lists are cut to top_n first: with 2, only 10, 11 / 11, 20 / 30, 12 compete; 11 is above 2 twice
  const ImportantGenes h = select_important(r, 2, 2, 4);
  EXPECT_EQ(h.genes, (std::vector<int32_t>{10, 20, 30, 12}));
}
