// The classic-pipeline baseline of classify and metrics (declared in tasks/classify.h):
// normalize_total + log1p, seurat-flavour HVGs, PCA by the eigendecomposition of the covariance.
#include <ATen/TensorOperators.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "scfm/io/h5ad_stream.h"
#include "scfm/pp/hvg.h"
#include "scfm/pp/normalize.h"
#include "scfm/runtime/threads.h"
#include "scfm/tasks/classify.h"
#include "scfm/util/error.h"

namespace scfm::tasks {

PcaBaseline pca_baseline(const std::string& path, const PcaBaselineOptions& o) {
  io::H5adStreamOptions so;
  so.layer = o.layer;
  io::H5adMatrixReader reader(path, so);
  return pca_baseline(reader, path, o);
}

PcaBaseline pca_baseline(io::RowSource& reader, const std::string& path, const PcaBaselineOptions& o) {
  const int64_t n = reader.n_rows(), g = reader.n_cols();
  if (n < 2) throw Error(path + ": the PCA baseline needs at least 2 cells");
  if (g < 1) throw Error(path + ": the PCA baseline needs at least 1 gene");

  // log-normalised expression of every cell, held as CSR (memory: the non-zeros)
  io::CsrMatrix all;
  all.n_cols = g;
  pp::NormalizeTotalOptions no;
  no.target_sum = o.target_sum;
  const int64_t block = std::max<int64_t>(1, o.block_cells);
  for (int64_t s = 0; s < n; s += block) {
    io::CsrMatrix b = reader.read_rows(s, std::min(block, n - s));
    pp::normalize_total(b, no);
    pp::log1p(b);
    const int64_t base = all.nnz();
    for (int64_t r = 0; r < b.n_rows; ++r) all.indptr.push_back(base + b.indptr[r + 1]);
    all.indices.insert(all.indices.end(), b.indices.begin(), b.indices.end());
    all.data.insert(all.data.end(), b.data.begin(), b.data.end());
    all.n_rows += b.n_rows;
  }

  // genes: the top n_top_genes highly variable (seurat flavour) when there are more
  std::vector<int32_t> col_map(static_cast<size_t>(g), -1);
  int64_t used = 0;
  if (o.n_top_genes > 0 && g > o.n_top_genes) {
    pp::HighlyVariableGenesOptions ho;
    ho.flavor = pp::HvgFlavor::Seurat;
    ho.n_top_genes = o.n_top_genes;
    const pp::HighlyVariableGenes hv = pp::highly_variable_genes(all, ho);
    for (int64_t j = 0; j < g; ++j)
      if (hv.highly_variable[j]) col_map[j] = static_cast<int32_t>(used++);
  } else {
    for (int64_t j = 0; j < g; ++j) col_map[j] = static_cast<int32_t>(used++);
  }
  if (used == 0) throw Error(path + ": no genes selected for the PCA baseline");

  c10::NoGradGuard no_grad;
  const int64_t rb = 1024;
  auto dense_block = [&](int64_t s, int64_t bn) {
    at::Tensor t = at::zeros({bn, used}, at::kDouble);
    double* p = t.data_ptr<double>();
    for (int64_t r = 0; r < bn; ++r)
      for (int64_t k = all.indptr[s + r]; k < all.indptr[s + r + 1]; ++k) {
        const int32_t c = col_map[all.indices[k]];
        if (c >= 0) p[r * used + c] = all.data[k];
      }
    return t;
  };
  at::Tensor sum = at::zeros({used}, at::kDouble);
  at::Tensor gram = at::zeros({used, used}, at::kDouble);
  for (int64_t s = 0; s < n; s += rb) {
    const at::Tensor b = dense_block(s, std::min(rb, n - s));
    sum += b.sum({0});
    gram += at::mm(b.t(), b);
  }
  const at::Tensor mean = sum / static_cast<double>(n);
  const at::Tensor cov = (gram - static_cast<double>(n) * at::mm(mean.unsqueeze(1), mean.unsqueeze(0))) /
                         static_cast<double>(n - 1);
  at::Tensor values, vectors;
  {
    // LAPACK's tridiagonalisation is thousands of small BLAS-2 calls: one thread is as fast,
    // and far faster than threads that wait on each other on a busy machine
    runtime::OneThread one_thread;
    std::tie(values, vectors) = at::linalg_eigh(cov, "L");
  }
  values = values.contiguous();    // ascending
  vectors = vectors.contiguous();  // one eigenvector per column
  const int64_t nc = std::max<int64_t>(1, std::min<int64_t>({o.n_comps, used, n - 1}));
  const double* ev = values.data_ptr<double>();
  const double* vv = vectors.data_ptr<double>();
  double total = 0;
  for (int64_t j = 0; j < used; ++j) total += std::max(0.0, ev[j]);
  PcaBaseline out;
  out.n_genes = g;
  out.n_genes_used = used;
  at::Tensor comps = at::zeros({used, nc}, at::kDouble);  // loadings, one column per component
  double* cp = comps.data_ptr<double>();
  for (int64_t c = 0; c < nc; ++c) {
    const int64_t src = used - 1 - c;
    int64_t arg = 0;
    for (int64_t r = 1; r < used; ++r)
      if (std::fabs(vv[r * used + src]) > std::fabs(vv[arg * used + src])) arg = r;
    const double sign = vv[arg * used + src] < 0 ? -1.0 : 1.0;
    for (int64_t r = 0; r < used; ++r) cp[r * nc + c] = sign * vv[r * used + src];
    out.variance_ratio.push_back(total > 0 ? std::max(0.0, ev[src]) / total : 0.0);
  }
  out.scores.rows = n;
  out.scores.cols = nc;
  out.scores.data.resize(static_cast<size_t>(n * nc));
  for (int64_t s = 0; s < n; s += rb) {
    const int64_t bn = std::min(rb, n - s);
    const at::Tensor sc = at::mm(dense_block(s, bn) - mean.unsqueeze(0), comps).contiguous();
    const double* p = sc.data_ptr<double>();
    for (int64_t i = 0; i < bn * nc; ++i) out.scores.data[static_cast<size_t>(s * nc + i)] = static_cast<float>(p[i]);
  }
  return out;
}

}  // namespace scfm::tasks
