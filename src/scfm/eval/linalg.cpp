#include "scfm/eval/linalg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <omp.h>

#include "scfm/util/error.h"
#include "scfm/util/one_blas_thread.h"

// The Fortran BLAS/LAPACK entry points (column-major; every argument by pointer).
extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
}

namespace scfm::eval {
namespace {

using util::OneBlasThread;  // LAPACK's eigensolvers split their inner products by the thread count too

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > std::numeric_limits<int>::max())
    throw Error(std::string("linear algebra: ") + what + " = " + std::to_string(v) + " is out of BLAS's range");
  return static_cast<int>(v);
}

}  // namespace

// Row-major C = A B^T is column-major C^T = B A^T: Fortran's gemm with B first, "T" on A.
void gemm_abt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  const int mi = as_int(m, "m"), ni = as_int(n, "n"), ki = as_int(k, "k");
  sgemm_("T", "N", &ni, &mi, &ki, &alpha, b, &ki, a, &ki, &beta, c, &ni);
}

void gemm_abt(int64_t m, int64_t n, int64_t k, double alpha, const double* a, const double* b, double beta,
              double* c) {
  if (m == 0 || n == 0) return;
  const int mi = as_int(m, "m"), ni = as_int(n, "n"), ki = as_int(k, "k");
  dgemm_("T", "N", &ni, &mi, &ki, &alpha, b, &ki, a, &ki, &beta, c, &ni);
}

SymmetricEigen symmetric_eigen(const std::vector<double>& matrix, int64_t n64) {
  const int n = as_int(n64, "n");
  OneBlasThread one_thread;
  if (static_cast<int64_t>(matrix.size()) != n64 * n64)
    throw Error("symmetric eigen: " + std::to_string(matrix.size()) + " values for a " + std::to_string(n) +
                " x " + std::to_string(n) + " matrix");
  SymmetricEigen out;
  if (n == 0) return out;
  std::vector<double> a = matrix;  // symmetric: row- and column-major agree
  std::vector<double> w(static_cast<size_t>(n));
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_("V", "U", &n, a.data(), &n, w.data(), &work_query, &lwork, &iwork_query, &liwork, &info);
  if (info != 0) throw Error("symmetric eigen: LAPACK dsyevd workspace query failed (info " + std::to_string(info) + ")");
  lwork = static_cast<int>(work_query);
  liwork = iwork_query;
  std::vector<double> work(static_cast<size_t>(std::max(1, lwork)));
  std::vector<int> iwork(static_cast<size_t>(std::max(1, liwork)));
  dsyevd_("V", "U", &n, a.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  if (info != 0) throw Error("symmetric eigen: LAPACK dsyevd did not converge (info " + std::to_string(info) + ")");
  // ascending from LAPACK; column j of the column-major result is eigenvector j
  out.values.resize(static_cast<size_t>(n));
  out.vectors.assign(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n)));
  for (int j = 0; j < n; ++j) {
    const int src = n - 1 - j;
    out.values[j] = w[src];
    std::copy(a.begin() + static_cast<int64_t>(src) * n, a.begin() + static_cast<int64_t>(src + 1) * n,
              out.vectors[j].begin());
  }
  return out;
}

Pca pca(const float* x, int64_t n, int64_t d, int64_t n_comps) {
  if (n < 2) throw Error("pca: needs at least 2 rows, got " + std::to_string(n));
  if (d < 1) throw Error("pca: needs at least 1 column");
  n_comps = std::max<int64_t>(1, std::min({n_comps, n, d}));
  OneBlasThread one_thread;
  std::vector<double> mean(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < d; ++c) mean[c] += x[i * d + c];
  for (double& v : mean) v /= static_cast<double>(n);
  // covariance by blocks of centred rows: cov += B^T B (d x d), B = block x d
  std::vector<double> cov(static_cast<size_t>(d * d), 0.0);
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(4096, (int64_t{1} << 24) / d));
  std::vector<double> bt(static_cast<size_t>(block * d));  // d x block (transposed block)
  for (int64_t r0 = 0; r0 < n; r0 += block) {
    const int64_t bn = std::min(block, n - r0);
    for (int64_t i = 0; i < bn; ++i)
      for (int64_t c = 0; c < d; ++c) bt[c * bn + i] = x[(r0 + i) * d + c] - mean[c];
    gemm_abt(d, d, bn, 1.0, bt.data(), bt.data(), 1.0, cov.data());
  }
  for (double& v : cov) v /= static_cast<double>(n - 1);
  // exact symmetry (the two triangles of a gemm result may differ in the last bit)
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = i + 1; j < d; ++j) cov[j * d + i] = cov[i * d + j];
  SymmetricEigen eig = symmetric_eigen(cov, d);
  Pca out;
  out.n = n;
  out.n_comps = n_comps;
  out.variance.assign(eig.values.begin(), eig.values.begin() + n_comps);
  for (double& v : out.variance) v = std::max(0.0, v);
  std::vector<double> load(static_cast<size_t>(n_comps * d));  // n_comps x d
  for (int64_t j = 0; j < n_comps; ++j) {
    const std::vector<double>& v = eig.vectors[j];
    int64_t arg = 0;
    for (int64_t c = 1; c < d; ++c)
      if (std::fabs(v[c]) > std::fabs(v[arg])) arg = c;
    const double sign = v[arg] < 0 ? -1.0 : 1.0;
    for (int64_t c = 0; c < d; ++c) load[j * d + c] = sign * v[c];
  }
  out.scores.assign(static_cast<size_t>(n * n_comps), 0.0);
  std::vector<double> rows(static_cast<size_t>(block * d));
  for (int64_t r0 = 0; r0 < n; r0 += block) {
    const int64_t bn = std::min(block, n - r0);
    for (int64_t i = 0; i < bn; ++i)
      for (int64_t c = 0; c < d; ++c) rows[i * d + c] = x[(r0 + i) * d + c] - mean[c];
    gemm_abt(bn, n_comps, d, 1.0, rows.data(), load.data(), 0.0, out.scores.data() + r0 * n_comps);
  }
  return out;
}

CentredRows centre_rows(const float* x, int64_t d, const std::vector<int64_t>& rows) {
  CentredRows c;
  c.n = static_cast<int64_t>(rows.size());
  c.d = d;
  std::vector<double> mean(static_cast<size_t>(d), 0.0);
  for (int64_t r : rows)
    for (int64_t k = 0; k < d; ++k) mean[k] += x[r * d + k];
  for (double& v : mean) v /= static_cast<double>(std::max<int64_t>(1, c.n));
  c.x.resize(static_cast<size_t>(c.n * d));
  c.norm.resize(static_cast<size_t>(c.n));
  for (int64_t i = 0; i < c.n; ++i) {
    const float* src = x + rows[i] * d;
    double s = 0;
    for (int64_t k = 0; k < d; ++k) {
      const float v = static_cast<float>(src[k] - mean[k]);
      c.x[i * d + k] = v;
      s += static_cast<double>(v) * v;
    }
    c.norm[i] = static_cast<float>(s);
  }
  return c;
}

void for_each_distance_row(const CentredRows& c, int64_t max_floats, const std::function<void(int64_t, float*)>& fn) {
  const int64_t n = c.n;
  if (n == 0) return;
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(1024, max_floats / n));
  std::vector<float> dot(static_cast<size_t>(block * n));
  // One product per tile of kTile rows, each on one BLAS thread (util/one_blas_thread.h): a
  // threaded sgemm's last bits follow the thread count, a fixed tile shape on one thread does not.
  constexpr int64_t kTile = 64;
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t bn = std::min(block, n - b0);
    const int64_t tiles = (bn + kTile - 1) / kTile;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t r0 = t * kTile, rn = std::min(kTile, bn - r0);
      {
        OneBlasThread one;
        gemm_abt(rn, n, c.d, 1.0f, c.x.data() + (b0 + r0) * c.d, c.x.data(), 0.0f, dot.data() + r0 * n);
      }
      for (int64_t r = r0; r < r0 + rn; ++r) {
        const int64_t i = b0 + r;
        float* dr = dot.data() + r * n;
        const float ni = c.norm[i];
        for (int64_t j = 0; j < n; ++j) dr[j] = std::max(0.0f, ni + c.norm[j] - 2.0f * dr[j]);
        dr[i] = 0.0f;
        fn(i, dr);
      }
    }
  }
}

}  // namespace scfm::eval
