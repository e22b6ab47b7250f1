// pp/binning against the ORIGINAL scGPT preprocess (fixture tests/fixtures/scgpt_preprocess,
// read through tests/pp/scgpt_preprocess_dump.py) and numpy's own np.quantile.
#include "scfm/pp/binning.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "scfm/util/error.h"
#include "test_util.h"

namespace scfm::pp {
namespace {

std::string fixture_npz() { return test::fixtures_dir() + "/scgpt_preprocess/preprocess.npz"; }

template <class T>
std::vector<T> read_raw(const std::string& path) {
  const std::string bytes = test::read_text(path);
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

// The fixture's arrays, dumped once per test binary run.
struct Fixture {
  int64_t rows = 0, cols = 0;
  std::vector<float> log1p_f32;  // rows x cols
  std::vector<int64_t> binned, left, right;
  std::vector<double> rand, edges;  // rand: rows x cols; edges: rows x 51
  io::CsrMatrix csr;                // log1p_f32 as CSR (non-zero entries)
};

const Fixture& fixture() {
  static Fixture loaded = [] {
    Fixture f;
    test::TempDir dir;
    auto r = test::run_python("pp/scgpt_preprocess_dump.py", fixture_npz() + " " + dir.path());
    if (r.exit_code != 0) throw std::runtime_error("scgpt_preprocess_dump.py failed: " + r.output);
    std::istringstream shapes(test::read_text(dir / "shapes.txt"));
    std::string name, dtype;
    int64_t d0, d1;
    while (shapes >> name >> dtype >> d0 >> d1)
      if (name == "log1p_f32") {
        f.rows = d0;
        f.cols = d1;
      }
    f.log1p_f32 = read_raw<float>(dir / "log1p_f32.bin");
    f.binned = read_raw<int64_t>(dir / "binned.bin");
    f.left = read_raw<int64_t>(dir / "binned_left.bin");
    f.right = read_raw<int64_t>(dir / "binned_right.bin");
    f.rand = read_raw<double>(dir / "binned_rand.bin");
    f.edges = read_raw<double>(dir / "bin_edges.bin");
    f.csr.n_rows = f.rows;
    f.csr.n_cols = f.cols;
    for (int64_t i = 0; i < f.rows; ++i) {
      for (int64_t j = 0; j < f.cols; ++j) {
        const float v = f.log1p_f32[i * f.cols + j];
        if (v != 0) {
          f.csr.indices.push_back(static_cast<int32_t>(j));
          f.csr.data.push_back(v);
        }
      }
      f.csr.indptr.push_back(f.csr.nnz());
    }
    return f;
  }();
  return loaded;
}

// Dense rows x cols view of per-entry bins.
std::vector<int64_t> dense_bins(const io::CsrMatrix& m, const BinnedMatrix& b) {
  std::vector<int64_t> out(m.n_rows * m.n_cols, 0);
  for (int64_t r = 0; r < m.n_rows; ++r)
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) out[r * m.n_cols + m.indices[k]] = b.bins[k];
  return out;
}

TEST(Binning, FixtureShape) {
  const Fixture& f = fixture();
  ASSERT_EQ(f.rows, 80);
  ASSERT_EQ(f.cols, 230);
  ASSERT_EQ(f.binned.size(), 80u * 230u);
  ASSERT_EQ(f.edges.size(), 80u * 51u);
  EXPECT_EQ(f.csr.nnz(), 4456);  // README: 4456 non-zeros
}

TEST(Binning, SeededSeed0ReproducesScgptExactly) {
  const Fixture& f = fixture();
  BinningOptions o;
  o.mode = BinningMode::Seeded;
  o.seed = 0;
  BinnedMatrix b = binning(f.csr, o);
  EXPECT_EQ(dense_bins(f.csr, b), f.binned);
  ASSERT_EQ(b.bin_edges.size(), f.edges.size());
  for (size_t i = 0; i < f.edges.size(); ++i)
    ASSERT_NEAR(b.bin_edges[i], f.edges[i], 1e-12 * std::max(1.0, std::fabs(f.edges[i]))) << i;
  // in fact bit-identical
  EXPECT_EQ(b.bin_edges, f.edges);
}

TEST(Binning, SeededStreamEqualsRecordedUniforms) {
  const Fixture& f = fixture();
  NumpyLegacyRandom rng(0);
  for (int64_t r = 0; r < f.rows; ++r)
    for (int64_t j = 0; j < f.cols; ++j) {
      const double u = f.rand[r * f.cols + j];
      if (std::isnan(u)) continue;
      ASSERT_EQ(rng.rand(), u) << "row " << r << " col " << j;
    }
}

TEST(Binning, LeftAndRightDigitsMatchFixture) {
  const Fixture& f = fixture();
  int64_t random_entries = 0;
  for (int64_t r = 0; r < f.rows; ++r) {
    std::vector<float> nz;
    for (int64_t k = f.csr.indptr[r]; k < f.csr.indptr[r + 1]; ++k) nz.push_back(f.csr.data[k]);
    const std::vector<double> edges = quantile_edges(nz, 51);
    for (int64_t k = f.csr.indptr[r]; k < f.csr.indptr[r + 1]; ++k) {
      int32_t left = 0, right = 0;
      digitize(f.csr.data[k], edges, &left, &right);
      const int64_t at = r * f.cols + f.csr.indices[k];
      ASSERT_EQ(left, f.left[at]);
      ASSERT_EQ(right, f.right[at]);
      if (left - right >= 2) ++random_entries;
      // the recorded uniform reproduces the recorded bin with scGPT's formula
      const double u = f.rand[at];
      ASSERT_EQ(static_cast<int64_t>(std::ceil(u * (right - left) + left)), f.binned[at]);
    }
  }
  EXPECT_EQ(random_entries, 3682);  // README: 3682 of 4456 non-zeros depend on u
}

TEST(Binning, DeterministicModeInvariants) {
  const Fixture& f = fixture();
  BinningOptions o;
  o.mode = BinningMode::Deterministic;
  const std::vector<int64_t> b = dense_bins(f.csr, binning(f.csr, o));
  for (size_t i = 0; i < b.size(); ++i) {
    if (f.log1p_f32[i] == 0) {
      ASSERT_EQ(b[i], 0);
      continue;
    }
    const int64_t left = f.left[i], right = f.right[i];
    if (left - right <= 1) {  // equals binned_left (and scGPT's bin) there
      ASSERT_EQ(b[i], f.binned[i]) << i;
      ASSERT_EQ(b[i], left) << i;
    }
    ASSERT_GE(b[i], std::min(left, right + 1));
    ASSERT_LE(b[i], left);
    ASSERT_EQ(b[i], (left + right + 1) / 2);  // ceil((left+right)/2)
  }
  // and it is repeatable
  EXPECT_EQ(dense_bins(f.csr, binning(f.csr, o)), b);
}

io::CsrMatrix permute_rows(const io::CsrMatrix& m, const std::vector<int64_t>& order) {
  io::CsrMatrix out;
  out.n_rows = m.n_rows;
  out.n_cols = m.n_cols;
  for (int64_t r : order) {
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      out.indices.push_back(m.indices[k]);
      out.data.push_back(m.data[k]);
    }
    out.indptr.push_back(out.nnz());
  }
  return out;
}

TEST(Binning, KeyedModeIndependentOfRowOrderAndChunking) {
  const Fixture& f = fixture();
  BinningOptions o;  // Keyed is the default
  ASSERT_EQ(o.mode, BinningMode::Keyed);
  o.seed = 1234;
  const std::vector<int64_t> whole = dense_bins(f.csr, binning(f.csr, o));
  // invariants of any u
  for (size_t i = 0; i < whole.size(); ++i) {
    if (f.log1p_f32[i] == 0) {
      ASSERT_EQ(whole[i], 0);
      continue;
    }
    if (f.left[i] - f.right[i] <= 1) {
      ASSERT_EQ(whole[i], f.left[i]);
    }
    ASSERT_GE(whole[i], std::min(f.left[i], f.right[i] + 1));
    ASSERT_LE(whole[i], f.left[i]);
  }
  // permuted rows with their cell ids
  std::vector<int64_t> order(f.rows);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 gen(3);
  std::shuffle(order.begin(), order.end(), gen);
  const io::CsrMatrix permuted = permute_rows(f.csr, order);
  const std::vector<int64_t> p = dense_bins(permuted, binning(permuted, o, order));
  for (int64_t i = 0; i < f.rows; ++i)
    for (int64_t j = 0; j < f.cols; ++j) ASSERT_EQ(p[i * f.cols + j], whole[order[i] * f.cols + j]);
  // a chunk of rows 40..79 given its first global row
  std::vector<int64_t> tail(f.rows - 40);
  std::iota(tail.begin(), tail.end(), 40);
  const io::CsrMatrix chunk = permute_rows(f.csr, tail);
  io::CsrMatrix chunk2 = chunk;
  chunk2.n_rows = static_cast<int64_t>(tail.size());
  const std::vector<int64_t> c = dense_bins(chunk2, binning(chunk2, o, int64_t{40}));
  for (int64_t i = 0; i < chunk2.n_rows; ++i)
    for (int64_t j = 0; j < f.cols; ++j) ASSERT_EQ(c[i * f.cols + j], whole[(i + 40) * f.cols + j]);
  // another seed changes some tie draws
  BinningOptions o2 = o;
  o2.seed = 1235;
  EXPECT_NE(dense_bins(f.csr, binning(f.csr, o2)), whole);
  // u is uniform-looking: mean of many draws near 1/2
  double sum = 0;
  for (int i = 0; i < 100000; ++i) sum += keyed_uniform(9, i, i % 977);
  EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(Binning, QuantileEdgesEqualNumpy) {
  test::TempDir dir;
  auto r = test::run_python("pp/scgpt_preprocess_dump.py", "--quantile " + dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream rows(test::read_text(dir / "rows.txt"));
  std::istringstream edges(test::read_text(dir / "edges.txt"));
  std::string row_line, edge_line;
  int n_rows = 0;
  while (std::getline(rows, row_line) && std::getline(edges, edge_line)) {
    std::vector<float> values;
    std::istringstream rs(row_line);
    std::string tok;
    while (rs >> tok) {
      const uint32_t bits = static_cast<uint32_t>(std::stoul(tok, nullptr, 16));
      float v;
      std::memcpy(&v, &bits, 4);
      values.push_back(v);
    }
    std::vector<double> expected;
    std::istringstream es(edge_line);
    while (es >> tok) expected.push_back(std::strtod(tok.c_str(), nullptr));
    ASSERT_EQ(expected.size(), 50u);
    EXPECT_EQ(quantile_edges(values, 51), expected) << "row " << n_rows;
    ++n_rows;
  }
  EXPECT_EQ(n_rows, 300);
}

TEST(Binning, ZeroRowsDrawNothingAndStayZero) {
  const Fixture& f = fixture();
  // insert an all-zero row and a row of explicit zeros before row 10: the seeded stream is unchanged
  io::CsrMatrix m;
  m.n_cols = f.cols;
  for (int64_t r = 0; r < f.rows; ++r) {
    if (r == 10) {
      m.indptr.push_back(m.nnz());  // empty row
      m.indices.push_back(3);
      m.data.push_back(0.0f);
      m.indptr.push_back(m.nnz());  // explicit zero
    }
    for (int64_t k = f.csr.indptr[r]; k < f.csr.indptr[r + 1]; ++k) {
      m.indices.push_back(f.csr.indices[k]);
      m.data.push_back(f.csr.data[k]);
    }
    m.indptr.push_back(m.nnz());
  }
  m.n_rows = f.rows + 2;
  BinningOptions o;
  o.mode = BinningMode::Seeded;
  const BinnedMatrix b = binning(m, o);
  const std::vector<int64_t> d = dense_bins(m, b);
  for (int64_t r = 0; r < m.n_rows; ++r) {
    const int64_t src = r < 10 ? r : (r < 12 ? -1 : r - 2);
    for (int64_t j = 0; j < f.cols; ++j)
      ASSERT_EQ(d[r * f.cols + j], src < 0 ? 0 : f.binned[src * f.cols + j]);
    for (int i = 0; i < 51; ++i)
      ASSERT_EQ(b.bin_edges[r * 51 + i], src < 0 ? 0.0 : f.edges[src * 51 + i]);
  }
  // binned_csr keeps the pattern
  const io::CsrMatrix bc = binned_csr(m, b);
  EXPECT_EQ(bc.indices, m.indices);
  EXPECT_EQ(bc.data[m.indptr[11]], 0.0f);
}

TEST(Binning, RejectsBadInput) {
  io::CsrMatrix m;
  m.n_rows = 1;
  m.n_cols = 3;
  m.indptr = {0, 2};
  m.indices = {0, 2};
  m.data = {1.0f, -2.0f};
  EXPECT_THROW(binning(m), Error);
  m.data = {1.0f, 2.0f};
  BinningOptions o;
  o.n_bins = 2;
  EXPECT_THROW(binning(m, o), Error);
  o.n_bins = 51;
  o.mode = BinningMode::Seeded;
  o.seed = 1ULL << 32;
  EXPECT_THROW(binning(m, o), Error);
  try {
    m.data = {1.0f, -2.0f};
    binning(m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("column 2"), std::string::npos) << e.what();
  }
}

TEST(Binning, SingleValueRowSpreadsOverAllBins) {
  // one non-zero value: every edge equals it, left = 50, right = 0, so the bin is 1..50
  io::CsrMatrix m;
  m.n_rows = 1;
  m.n_cols = 1;
  m.indptr = {0, 1};
  m.indices = {0};
  m.data = {2.5f};
  BinningOptions o;
  o.mode = BinningMode::Deterministic;
  EXPECT_EQ(binning(m, o).bins[0], 25);
  NumpyLegacyRandom rng(0);
  const double u = NumpyLegacyRandom(0).rand();
  EXPECT_EQ(binning(m, 51, rng).bins[0], static_cast<int32_t>(std::ceil(u * -50 + 50)));
}

TEST(Binning, ClampMode) {
  io::CsrMatrix m;
  m.n_rows = 1;
  m.n_cols = 3;
  m.indptr = {0, 3};
  m.indices = {0, 1, 2};
  m.data = {3.0f, 20.0f, 250.0f};
  clamp_values(m);
  EXPECT_EQ(m.data, (std::vector<float>{3.0f, 20.0f, 20.0f}));
  clamp_values(m, 5);
  EXPECT_EQ(m.data, (std::vector<float>{3.0f, 5.0f, 5.0f}));
}

}  // namespace
}  // namespace scfm::pp
