// Classification metrics against hand-computed cases (and sklearn's definitions).
#include <gtest/gtest.h>

#include <set>

#include "scfm/eval/metrics.h"
#include "scfm/util/error.h"

using namespace scfm::eval;

TEST(Metrics, HandComputedThreeClasses) {
  // truth: a a a b b c ; pred: a a b b c c
  // confusion: a->a 2, a->b 1; b->b 1, b->c 1; c->c 1
  // precision: a 2/2=1, b 1/2, c 1/2 ; recall: a 2/3, b 1/2, c 1
  // f1: a 0.8, b 0.5, c 2/3 ; macro = (0.8+0.5+0.6667)/3 = 0.65556 ; accuracy 4/6
  const std::vector<std::string> classes{"a", "b", "c"};
  auto m = classification_metrics({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, classes);
  EXPECT_EQ(m.n, 6);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  EXPECT_EQ(m.confusion[0][0], 2);
  EXPECT_EQ(m.confusion[0][1], 1);
  EXPECT_EQ(m.confusion[1][2], 1);
  EXPECT_DOUBLE_EQ(m.precision[0], 1.0);
  EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall[2], 1.0);
  EXPECT_NEAR(m.f1[0], 0.8, 1e-12);
  EXPECT_NEAR(m.f1[2], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
  EXPECT_EQ(m.support[0], 3);
}

TEST(Metrics, AbsentClassIsLeftOutOfMacroF1AndUnlabelledCellsSkipped) {
  // class "c" never occurs in truth or prediction: sklearn's macro-F1 ignores it.
  const std::vector<std::string> classes{"a", "b", "c"};
  auto m = classification_metrics({0, 1, -1, 1}, {0, 0, 2, 1}, classes);
  EXPECT_EQ(m.n, 3);
  // a: P 1/2, R 1 -> F1 2/3 ; b: P 1, R 1/2 -> 2/3
  EXPECT_NEAR(m.macro_f1, 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.accuracy, 2.0 / 3.0);
  // a class predicted but never true counts with F1 0.
  auto m2 = classification_metrics({0, 0}, {0, 2}, classes);
  EXPECT_NEAR(m2.macro_f1, (2.0 / 3.0 + 0.0) / 2.0, 1e-12);
}

TEST(Metrics, BadInputIsRefused) {
  EXPECT_THROW(classification_metrics({0, 1}, {0}, {"a", "b"}), scfm::Error);
  EXPECT_THROW(classification_metrics({0, 3}, {0, 1}, {"a", "b"}), scfm::Error);
}

TEST(Metrics, MeanAndSampleStd) {
  auto r = mean_std({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(r.mean, 2.5);
  EXPECT_NEAR(r.std, 1.2909944487358056, 1e-12);  // numpy.std(ddof=1)
  EXPECT_DOUBLE_EQ(mean_std({5}).std, 0.0);
}

TEST(Metrics, LabelEncodingSortsAndSkipsMissing) {
  auto e = encode_labels({"T", "B", "nan", "T", ""});
  ASSERT_EQ(e.classes, (std::vector<std::string>{"B", "T"}));
  EXPECT_EQ(e.codes, (std::vector<int32_t>{1, 0, -1, 1, -1}));
  EXPECT_EQ(encode_with({"B", "NK"}, e.classes), (std::vector<int32_t>{0, -1}));
}

TEST(Metrics, SplitIsAPartitionAndDependsOnlyOnSeed) {
  auto s = random_split(101, 0.7, 3);
  EXPECT_EQ(s.train.size(), 71u);
  EXPECT_EQ(s.test.size(), 30u);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.test.begin(), s.test.end());
  EXPECT_EQ(all.size(), 101u);
  EXPECT_EQ(*all.begin(), 0);
  EXPECT_EQ(*all.rbegin(), 100);
  EXPECT_EQ(random_split(101, 0.7, 3).train, s.train);
  EXPECT_NE(random_split(101, 0.7, 4).train, s.train);
}
