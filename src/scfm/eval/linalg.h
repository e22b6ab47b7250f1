// The few dense linear-algebra kernels the evaluation code needs, on the system BLAS/LAPACK
// (OpenBLAS on Debian, see docs/blas.md) through their Fortran interfaces: no LibTorch here.
//
// Level-3 BLAS splits its work over the output matrix, never over the summed dimension, so a
// result does not depend on the number of BLAS threads (checked by the metric tests).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace scfm::eval {

// C (m x n) = alpha * A (m x k) * B (n x k)^T + beta * C, all row-major and contiguous.
void gemm_abt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b, float beta, float* c);
void gemm_abt(int64_t m, int64_t n, int64_t k, double alpha, const double* a, const double* b, double beta, double* c);

// Eigen-decomposition of a symmetric n x n matrix (row-major; only the values are read, both
// triangles must hold them): eigenvalues in descending order, eigenvectors[j] the unit vector
// of eigenvalue j (LAPACK dsyevd, on one thread). Throws scfm::Error when LAPACK does not converge.
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<std::vector<double>> vectors;
};
SymmetricEigen symmetric_eigen(const std::vector<double>& matrix, int64_t n);

// Principal components of the rows of x (n x d, row-major): centred on the column means, the
// covariance (n - 1) decomposed; scores (n x n_comps, row-major) and the variance of each
// component (the eigenvalue; scanpy's uns['pca']['variance']). The sign of each component makes
// its largest-magnitude loading positive. n_comps is capped at min(n, d). Runs BLAS and LAPACK on
// one thread, so the result does not depend on the thread count.
struct Pca {
  int64_t n = 0, n_comps = 0;
  std::vector<double> scores;
  std::vector<double> variance;
};
Pca pca(const float* x, int64_t n, int64_t d, int64_t n_comps);

// Rows of x (row width d) centred on their mean (in double), as float, with their squared norms:
// the input of the ||a||^2 + ||b||^2 - 2 a.b distance products, which lose less to cancellation
// on centred data. rows: the source row of each output row.
struct CentredRows {
  int64_t n = 0, d = 0;
  std::vector<float> x;     // n x d
  std::vector<float> norm;  // n
};
CentredRows centre_rows(const float* x, int64_t d, const std::vector<int64_t>& rows);

// For every row i of c, the squared distances to all rows (float, >= 0, exactly 0 to itself),
// handed to fn(i, distances) with `distances` valid during the call and writable. Rows are done
// in blocks of one matrix product (at most max_floats distances in memory), then in parallel
// (OpenMP) within a block: fn must be safe to call concurrently for different rows.
void for_each_distance_row(const CentredRows& c, int64_t max_floats, const std::function<void(int64_t, float*)>& fn);

}  // namespace scfm::eval
