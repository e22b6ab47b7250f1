// normalize_total and log1p with scanpy's semantics, on float32 CSR rows (io::CsrMatrix).
//
// Pure functions: no files, no LibTorch. Sizes: `m` is cells x genes.
#pragma once

#include <optional>
#include <vector>

#include "scfm/io/sparse.h"

namespace scfm::pp {

struct NormalizeTotalOptions {
  // scanpy.pp.normalize_total(target_sum=...): each cell is scaled to this total. Unset: the
  // median of the totals of cells with a non-zero total (scanpy's default).
  std::optional<double> target_sum;
};

// Scales each row to the target total; rows with total 0 stay 0. Returns the target used.
double normalize_total(io::CsrMatrix& m, const NormalizeTotalOptions& options = {});
// The same on CSR arrays in place (scipy.sparse's indptr and float32 data, as the Python module
// hands them over): the values of row r are data[indptr[r] .. indptr[r+1]).
double normalize_total(int64_t n_rows, const int64_t* indptr, float* data, const NormalizeTotalOptions& options = {});
double normalize_total(int64_t n_rows, const int32_t* indptr, float* data, const NormalizeTotalOptions& options = {});

// x -> ln(1 + x) on the stored values (scanpy.pp.log1p, natural base), correctly rounded:
// float(log1p(double(x))), which is numpy's float64 log1p cast to float32. glibc's log1pf (what
// numpy's float32 log1p calls) is off by one in the last bit for ~2.5% of inputs; this is both
// exact and ~15x faster (vectorised).
void log1p(io::CsrMatrix& m);
void log1p(float* values, size_t n);

// One cell's values in place: log1p(x * target / total) with the total and the product in double
// (what pretraining and `scfm embed` feed the models); a cell whose total is 0 is left as it is.
void log1p_normalize_cell(float* values, size_t n, double target = 1e4);

}  // namespace scfm::pp
