// pp::log1p is correctly rounded: float(log1p(double(x))) bit for bit, on the vectorised path
// (values in [-0.25, FLT_MAX]) and on the scalar one (anything else in a call: negatives down to
// -1, NaN, infinities).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "scfm/pp/normalize.h"

namespace scfm::pp {
namespace {

float reference(float x) { return static_cast<float>(std::log1p(static_cast<double>(x))); }

bool same_bits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

TEST(Log1p, EqualsTheCorrectlyRoundedValueOnCountsAndRandomFloats) {
  std::mt19937 rng(11);
  std::vector<float> x;
  for (int c = 0; c <= 5000; ++c) x.push_back(static_cast<float>(c));  // counts
  std::uniform_real_distribution<double> log_scale(-40, 38);
  for (int i = 0; i < 300000; ++i) x.push_back(static_cast<float>(std::exp(log_scale(rng))));
  std::uniform_real_distribution<float> small(-0.25f, 0.25f);
  for (int i = 0; i < 100000; ++i) x.push_back(small(rng));
  for (float v : {0.0f, -0.0f, 1e-45f, 1e-38f, 5.9604645e-08f, 0.41421356f, 0.41421357f, 1.0f, 1e4f, FLT_MAX, -0.25f})
    x.push_back(v);
  io::CsrMatrix m;
  m.n_rows = 1;
  m.n_cols = static_cast<int64_t>(x.size());
  m.indptr = {0, static_cast<int64_t>(x.size())};
  m.indices.resize(x.size());
  m.data = x;
  log1p(m);
  int64_t wrong = 0, differs_from_log1pf = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!same_bits(m.data[i], reference(x[i]))) {
      if (++wrong < 5) ADD_FAILURE() << "log1p(" << x[i] << ") = " << m.data[i] << ", expected " << reference(x[i]);
    }
    differs_from_log1pf += m.data[i] != std::log1p(x[i]);
  }
  EXPECT_EQ(wrong, 0);
  // the old implementation (glibc's log1pf) is not correctly rounded: this test would catch a
  // return to it
  EXPECT_GT(differs_from_log1pf, 0);
}

TEST(Log1p, OutOfRangeValuesTakeTheScalarPath) {
  std::vector<float> x{3.0f, -0.5f, -0.999f, -1.0f, -2.0f, std::numeric_limits<float>::infinity(),
                       std::numeric_limits<float>::quiet_NaN(), 7.5f, -0.3f};
  std::vector<float> v = x;
  log1p(v.data(), v.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(same_bits(v[i], reference(x[i]))) << "x = " << x[i] << ": " << v[i];
  EXPECT_EQ(v[3], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[4]));
}

TEST(Log1pNormalizeCell, KnownValuesAndAnEmptyCell) {
  std::vector<float> v{1.0f, 3.0f, 0.0f};
  log1p_normalize_cell(v.data(), v.size());  // total 4: 1e4 / 4 per count
  EXPECT_EQ(v[0], static_cast<float>(std::log1p(2500.0)));
  EXPECT_EQ(v[1], static_cast<float>(std::log1p(7500.0)));
  EXPECT_EQ(v[2], 0.0f);
  std::vector<float> z{0.0f, 0.0f};
  log1p_normalize_cell(z.data(), z.size(), 100.0);
  EXPECT_EQ(z, (std::vector<float>{0.0f, 0.0f}));
  std::vector<float> t{2.0f, 2.0f};
  log1p_normalize_cell(t.data(), t.size(), 100.0);  // another target
  EXPECT_EQ(t[0], static_cast<float>(std::log1p(50.0)));
}

}  // namespace
}  // namespace scfm::pp
