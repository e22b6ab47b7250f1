// io::ArrayRows (the Python module's cells): blocks of rows read from arrays in memory equal the
// blocks the .h5ad stream reader gives for the same matrix, whatever the index and value types, the
// order of a row's entries or the layout; malformed arrays are refused naming the array.
#include <gtest/gtest.h>

#include <algorithm>

#include "scfm/io/array_rows.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;

namespace {

void expect_same(const io::CsrMatrix& a, const io::CsrMatrix& b) {
  EXPECT_EQ(a.n_rows, b.n_rows);
  EXPECT_EQ(a.n_cols, b.n_cols);
  EXPECT_EQ(a.indptr, b.indptr);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.data, b.data);
}

}  // namespace

TEST(ArrayRows, BlocksEqualTheFileReadersForEveryTypeAndLayout) {
  const std::string path = test::real_data("pbmc_small.h5ad");
  io::H5adMatrixReader file(path);
  const io::CsrMatrix x = io::read_h5ad(path).matrix_csr();
  // int32 indptr, int64 indices, float64 data, each row's entries reversed
  std::vector<int32_t> ptr32(x.indptr.begin(), x.indptr.end());
  std::vector<int64_t> idx64(x.indices.begin(), x.indices.end());
  std::vector<double> val64(x.data.begin(), x.data.end());
  for (int64_t r = 0; r < x.n_rows; ++r) {
    std::reverse(idx64.begin() + x.indptr[r], idx64.begin() + x.indptr[r + 1]);
    std::reverse(val64.begin() + x.indptr[r], val64.begin() + x.indptr[r + 1]);
  }
  const auto nnz = static_cast<int64_t>(idx64.size());
  io::ArrayRows csr = io::ArrayRows::csr("adata.X", x.n_rows, x.n_cols, {ptr32.data(), io::DType::I32, x.n_rows + 1},
                                         {idx64.data(), io::DType::I64, nnz}, {val64.data(), io::DType::F64, nnz});
  const std::vector<float> dense_f = x.to_dense();
  std::vector<uint16_t> dense_u(dense_f.begin(), dense_f.end());  // counts fit in uint16
  io::ArrayRows dense = io::ArrayRows::dense("adata.X", x.n_rows, x.n_cols,
                                             {dense_u.data(), io::DType::U16, static_cast<int64_t>(dense_u.size())});
  EXPECT_EQ(csr.nnz(), file.nnz());
  for (auto [start, count] : {std::pair<int64_t, int64_t>{0, 80}, {0, 7}, {33, 20}, {79, 1}, {80, 0}}) {
    const io::CsrMatrix want = file.read_rows(start, count);
    expect_same(csr.read_rows(start, count), want);
    expect_same(dense.read_rows(start, count), want);
  }
  EXPECT_THROW(csr.read_rows(70, 11), Error);
}

TEST(ArrayRows, MalformedArraysAreRefusedNamingTheArray) {
  std::vector<int64_t> ptr{0, 2, 1};
  std::vector<int32_t> idx{0, 5};
  std::vector<float> val{1, 2};
  auto msg = [](auto&& f) {
    try {
      f();
    } catch (const FormatError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  io::ArrayRows a = io::ArrayRows::csr("adata.X", 2, 4, {ptr.data(), io::DType::I64, 3}, {idx.data(), io::DType::I32, 2},
                                       {val.data(), io::DType::F32, 2});
  EXPECT_EQ(msg([&] { a.read_rows(0, 2); }), "adata.X: indptr: is not monotone at row 1");
  ptr = {0, 1, 2};
  EXPECT_EQ(msg([&] { a.read_rows(0, 2); }),
            "adata.X: indices: entry 1 is 5, out of range; expected 0 <= index < 4");
  EXPECT_EQ(msg([&] {
              io::ArrayRows::csr("adata.X", 3, 4, {ptr.data(), io::DType::I64, 3}, {idx.data(), io::DType::I32, 2},
                                 {val.data(), io::DType::F32, 2});
            }),
            "adata.X: indptr: has 3 entries; expected n_obs + 1 = 4");
  EXPECT_EQ(msg([&] {
              io::ArrayRows::csr("adata.X", 2, 4, {ptr.data(), io::DType::I64, 3}, {val.data(), io::DType::F32, 2},
                                 {val.data(), io::DType::F32, 2});
            }),
            "adata.X: indices: expected integers, found float32");
  ptr = {0, 1, 3};
  EXPECT_EQ(msg([&] {
              io::ArrayRows::csr("adata.X", 2, 4, {ptr.data(), io::DType::I64, 3}, {idx.data(), io::DType::I32, 2},
                                 {val.data(), io::DType::F32, 2});
            }),
            "adata.X: indptr: ends at 3, past the 2 stored entries");
  EXPECT_EQ(msg([&] { io::ArrayRows::dense("adata.X", 2, 4, {val.data(), io::DType::F32, 2}); }),
            "adata.X: values: has 2 elements; expected 2 x 4");
}
