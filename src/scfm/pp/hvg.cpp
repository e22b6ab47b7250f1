#include "scfm/pp/hvg.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "scfm/util/error.h"

namespace scfm::pp {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// loess (one predictor): a port of the parts of Cleveland, Grosse and Shyu's dloess that R's
// loess(family = "gaussian") runs: ehg127 (local fit), ehg126/ehg124 (bounding box, k-d tree),
// ehg128 (cubic Hermite interpolation between cell vertices).

struct LocalFit {
  double value = 0;
  double slope = 0;
};

// Weighted least squares of y on (1, x-q, (x-q)^2) with tricube weights over the nf nearest points
// (ehg127). Solved by Householder QR of the column-equilibrated design, as dloess does before its
// SVD; the two agree to rounding unless the local design is singular.
class LocalFitter {
 public:
  LocalFitter(const std::vector<double>& x, const std::vector<double>& y, int64_t nf, double span,
              int degree)
      : x_(x), y_(y), nf_(nf), span_(span), k_(degree + 1), dist_(x.size()), scratch_(x.size()) {}

  LocalFit fit(double q) {
    const size_t n = x_.size();
    for (size_t i = 0; i < n; ++i) {
      const double d = x_[i] - q;
      dist_[i] = d * d;
    }
    scratch_ = dist_;
    std::nth_element(scratch_.begin(), scratch_.begin() + (nf_ - 1), scratch_.end());
    const double rho = scratch_[nf_ - 1] * std::max(1.0, span_);
    if (!(rho > 0))
      throw Error("loess: span too small: the " + std::to_string(nf_) +
                  " nearest points of a fit location all lie at it (increase span)");
    // Rows with dist >= rho have weight exactly 0 in dloess; leaving them out changes nothing.
    a_.clear();
    b_.clear();
    for (size_t i = 0; i < n; ++i) {
      if (!(dist_[i] < rho)) continue;
      const double r = std::sqrt(dist_[i] / rho);
      const double t = 1 - r * r * r;
      const double w = std::sqrt(t * t * t);
      const double dx = x_[i] - q;
      a_.push_back(w);
      if (k_ >= 2) a_.push_back(w * dx);
      if (k_ >= 3) a_.push_back(w * dx * dx);
      b_.push_back(w * y_[i]);
    }
    const size_t m = b_.size();
    const int k = k_;
    auto at = [&](size_t row, int col) -> double& { return a_[row * k + col]; };
    // equilibrate columns
    double colnorm[3] = {1, 1, 1};
    for (int j = 0; j < k; ++j) {
      double s = 0;
      for (size_t i = 0; i < m; ++i) s += at(i, j) * at(i, j);
      s = std::sqrt(s);
      if (s > 0) {
        for (size_t i = 0; i < m; ++i) at(i, j) /= s;
        colnorm[j] = s;
      }
    }
    // Householder QR, applying each reflection to b as well
    double rdiag[3] = {0, 0, 0};
    for (int j = 0; j < k && static_cast<size_t>(j) < m; ++j) {
      double norm = 0;
      for (size_t i = j; i < m; ++i) norm += at(i, j) * at(i, j);
      norm = std::sqrt(norm);
      if (norm == 0) {
        rdiag[j] = 0;
        continue;
      }
      const double alpha = at(j, j) > 0 ? -norm : norm;
      // v = a_j - alpha e_j, stored in column j
      at(j, j) -= alpha;
      double vnorm2 = 0;
      for (size_t i = j; i < m; ++i) vnorm2 += at(i, j) * at(i, j);
      for (int c = j + 1; c < k; ++c) {
        double dot = 0;
        for (size_t i = j; i < m; ++i) dot += at(i, j) * at(i, c);
        const double f = 2 * dot / vnorm2;
        for (size_t i = j; i < m; ++i) at(i, c) -= f * at(i, j);
      }
      double dot = 0;
      for (size_t i = j; i < m; ++i) dot += at(i, j) * b_[i];
      const double f = 2 * dot / vnorm2;
      for (size_t i = j; i < m; ++i) b_[i] -= f * at(i, j);
      rdiag[j] = alpha;
    }
    // back substitution; a numerically zero pivot drops its coefficient (pseudo-inverse-like)
    double maxdiag = 0;
    for (int j = 0; j < k; ++j) maxdiag = std::max(maxdiag, std::fabs(rdiag[j]));
    const double tol = maxdiag * 100 * std::numeric_limits<double>::epsilon();
    double coef[3] = {0, 0, 0};
    for (int j = k - 1; j >= 0; --j) {
      if (static_cast<size_t>(j) >= m || std::fabs(rdiag[j]) <= tol) {
        coef[j] = 0;
        continue;
      }
      double s = b_[j];
      for (int c = j + 1; c < k; ++c) s -= at(j, c) * coef[c];
      coef[j] = s / rdiag[j];
    }
    LocalFit out;
    out.value = coef[0] / colnorm[0];
    out.slope = k >= 2 ? coef[1] / colnorm[1] : 0;
    return out;
  }

 private:
  const std::vector<double>& x_;
  const std::vector<double>& y_;
  int64_t nf_;
  double span_;
  int k_;
  std::vector<double> dist_, scratch_, a_, b_;
};

struct KdCell {
  int64_t l = 0, u = 0;  // 1-based positions in the sorted x
  int lo_vertex = 0, hi_vertex = 0;
  bool leaf = true;
  double xi = 0;
  int lo_child = -1, hi_child = -1;
};

}  // namespace

std::vector<double> loess_fit(const std::vector<double>& x, const std::vector<double>& y,
                              const LoessOptions& options) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (static_cast<int64_t>(y.size()) != n)
    throw Error("loess: x has " + std::to_string(n) + " values but y has " + std::to_string(y.size()));
  if (options.degree < 0 || options.degree > 2)
    throw Error("loess: degree must be 0, 1 or 2, got " + std::to_string(options.degree));
  if (!(options.span > 0)) throw Error("loess: span must be positive");
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
      throw Error("loess: non-finite value at point " + std::to_string(i));
  const int k = options.degree + 1;
  const int64_t nf = std::min<int64_t>(n, static_cast<int64_t>(std::floor(n * options.span)));
  if (k > nf - 1)
    throw Error("loess: span " + std::to_string(options.span) + " keeps " + std::to_string(nf) +
                " of " + std::to_string(n) + " points, too few for degree " +
                std::to_string(options.degree) + " (need more than " + std::to_string(k) + ")");

  LocalFitter fitter(x, y, nf, options.span, options.degree);
  std::vector<double> fitted(n);
  if (options.surface == LoessSurface::Direct) {
    for (int64_t i = 0; i < n; ++i) fitted[i] = fitter.fit(x[i]).value;
    return fitted;
  }

  // ehg126: the bounding box, widened by 0.5% of the range
  std::vector<double> xs(x);
  std::sort(xs.begin(), xs.end());
  const double alpha = xs.front(), beta = xs.back();
  const double mu =
      0.005 * std::max(beta - alpha, 1e-10 * std::max(std::fabs(alpha), std::fabs(beta)) + 1e-30);
  std::vector<double> vertices{alpha - mu, beta + mu};

  // ehg124: split cells at the median until they hold at most fc points (ties go to the upper son)
  const int64_t fc = static_cast<int64_t>(std::floor(n * (options.span * options.cell)));
  const int64_t nvmax = std::max<int64_t>(200, n), ncmax = nvmax;
  auto xs1 = [&](int64_t pos) { return xs[pos - 1]; };  // 1-based
  std::vector<KdCell> cells;
  {
    KdCell root;
    root.l = 1;
    root.u = n;
    root.lo_vertex = 0;
    root.hi_vertex = 1;
    cells.push_back(root);
  }
  for (size_t p = 0; p < cells.size(); ++p) {
    KdCell c = cells[p];
    const double diam = vertices[c.hi_vertex] - vertices[c.lo_vertex];
    const double fd = 0;  // dloess's fd (v(3)) is 0 in R's loess
    bool leaf = (c.u - c.l + 1 <= fc) || (diam <= fd);
    if (!leaf) {
      const int64_t nc = static_cast<int64_t>(cells.size());
      const int64_t nv = static_cast<int64_t>(vertices.size());
      leaf = (ncmax < nc + 2) || (static_cast<double>(nvmax) < nv + 1.0);
    }
    int64_t m = 0;
    if (!leaf) {
      m = (c.l + c.u) / 2;
      int64_t offset = 0;
      while (!((m + offset) >= c.u || (m + offset) < c.l)) {
        if (xs1(m + offset) == xs1(m + offset + 1)) {
          offset = -offset;
          if (offset >= 0) offset += 1;
        } else {
          m = m + offset;
          break;
        }
      }
      leaf = (vertices[c.lo_vertex] == xs1(m)) || (vertices[c.hi_vertex] == xs1(m));
    }
    if (leaf) {
      cells[p].leaf = true;
      continue;
    }
    const double xi = xs1(m);
    vertices.push_back(xi);
    const int vi = static_cast<int>(vertices.size()) - 1;
    KdCell lo, hi;
    lo.l = c.l;
    lo.u = m;
    lo.lo_vertex = c.lo_vertex;
    lo.hi_vertex = vi;
    hi.l = m + 1;
    hi.u = c.u;
    hi.lo_vertex = vi;
    hi.hi_vertex = c.hi_vertex;
    cells[p].leaf = false;
    cells[p].xi = xi;
    cells[p].lo_child = static_cast<int>(cells.size());
    cells.push_back(lo);
    cells[p].hi_child = static_cast<int>(cells.size());
    cells.push_back(hi);
  }

  // local fits (value and slope) at every vertex
  std::vector<LocalFit> vval(vertices.size());
  for (size_t v = 0; v < vertices.size(); ++v) vval[v] = fitter.fit(vertices[v]);

  // ehg128: cubic Hermite interpolation within the leaf cell holding each point
  for (int64_t i = 0; i < n; ++i) {
    const double z = x[i];
    int p = 0;
    while (!cells[p].leaf) p = z <= cells[p].xi ? cells[p].lo_child : cells[p].hi_child;
    const double v0 = vertices[cells[p].lo_vertex], v1 = vertices[cells[p].hi_vertex];
    const LocalFit& g0 = vval[cells[p].lo_vertex];
    const LocalFit& g1 = vval[cells[p].hi_vertex];
    const double h = (z - v0) / (v1 - v0);
    const double phi0 = (1 - h) * (1 - h) * (1 + 2 * h);
    const double phi1 = h * h * (3 - 2 * h);
    const double psi0 = h * (1 - h) * (1 - h);
    const double psi1 = h * h * (h - 1);
    fitted[i] = phi0 * g0.value + phi1 * g1.value + (psi0 * g0.slope + psi1 * g1.slope) * (v1 - v0);
  }
  return fitted;
}

// ---------------------------------------------------------------------------------------------

HvgFlavor hvg_flavor_from_string(const std::string& name) {
  if (name == "seurat") return HvgFlavor::Seurat;
  if (name == "cell_ranger") return HvgFlavor::CellRanger;
  if (name == "seurat_v3") return HvgFlavor::SeuratV3;
  throw Error("highly_variable_genes: flavor must be \"seurat\", \"cell_ranger\" or \"seurat_v3\", got \"" +
              name + "\"");
}

std::string to_string(HvgFlavor flavor) {
  switch (flavor) {
    case HvgFlavor::Seurat: return "seurat";
    case HvgFlavor::CellRanger: return "cell_ranger";
    case HvgFlavor::SeuratV3: return "seurat_v3";
  }
  return "?";
}

namespace {

struct ColumnStats {
  std::vector<double> mean, var;
  std::vector<int64_t> n_positive;  // cells with a value > 0 (scanpy filter_genes min_cells)
};

// Mean and variance (n-1, two-pass) of each column over `rows`, of expm1(value) when asked.
template <class Get>
ColumnStats column_stats(const io::CsrMatrix& m, Get get, const std::vector<int64_t>& rows, bool expm1) {
  const int64_t g = m.n_cols;
  ColumnStats s;
  std::vector<double> sum(g, 0.0);
  std::vector<int64_t> stored(g, 0);
  s.n_positive.assign(g, 0);
  for (int64_t r : rows)
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      const double raw = get(k);
      const double v = expm1 ? std::expm1(raw) : raw;
      sum[m.indices[k]] += v;
      stored[m.indices[k]] += 1;
      if (raw > 0) s.n_positive[m.indices[k]] += 1;
    }
  const double n = static_cast<double>(rows.size());
  s.mean.resize(g);
  for (int64_t j = 0; j < g; ++j) s.mean[j] = sum[j] / n;
  std::vector<double> ss(g, 0.0);
  for (int64_t r : rows)
    for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
      const double raw = get(k);
      const double v = expm1 ? std::expm1(raw) : raw;
      const double d = v - s.mean[m.indices[k]];
      ss[m.indices[k]] += d * d;
    }
  s.var.resize(g);
  for (int64_t j = 0; j < g; ++j)
    s.var[j] = (ss[j] + static_cast<double>(rows.size() - stored[j]) * s.mean[j] * s.mean[j]) / (n - 1);
  return s;
}

// numpy's median (mean of the two middle values); NaN if any value is NaN, as np.median.
double np_median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  for (double d : v)
    if (std::isnan(d)) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// numpy 1.24 quantile, method "linear", of sorted float64 values.
double np_quantile_sorted(const std::vector<double>& s, double q) {
  const int64_t n = static_cast<int64_t>(s.size());
  const double h = static_cast<double>(n - 1) * q;
  int64_t lo = static_cast<int64_t>(std::floor(h));
  const double g = h - static_cast<double>(lo);
  lo = std::min<int64_t>(std::max<int64_t>(lo, 0), n - 1);
  const int64_t hi = std::min<int64_t>(lo + 1, n - 1);
  const double a = s[lo], b = s[hi];
  const double diff = b - a;
  return g < 0.5 ? a + diff * g : b - diff * (1 - g);
}

double nan_to_num(double v) {
  if (std::isnan(v)) return 0;
  if (std::isinf(v)) return v > 0 ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest();
  return v;
}

struct DispersionTable {
  std::vector<double> means, dispersions, dispersions_norm;
  std::vector<bool> highly_variable;
};

// scanpy's _highly_variable_genes_single_batch for seurat / cell_ranger, given the per-gene mean
// and variance (of expm1(x) for seurat).
DispersionTable dispersion_single_batch(std::vector<double> mean, const std::vector<double>& var,
                                        const HighlyVariableGenesOptions& o) {
  const size_t g = mean.size();
  DispersionTable t;
  for (double& v : mean)
    if (v == 0) v = 1e-12;
  std::vector<double> disp(g);
  for (size_t j = 0; j < g; ++j) disp[j] = var[j] / mean[j];
  if (o.flavor == HvgFlavor::Seurat) {
    for (size_t j = 0; j < g; ++j) {
      if (disp[j] == 0) disp[j] = kNaN;
      disp[j] = std::log(disp[j]);
      mean[j] = std::log1p(mean[j]);
    }
  }
  std::vector<double> norm(g, kNaN);
  if (g > 0 && o.flavor == HvgFlavor::Seurat) {
    // pandas.cut(means, bins=n_bins): equal width, lowest edge lowered by 0.1% of the range
    const int nb = o.n_bins;
    double mn = *std::min_element(mean.begin(), mean.end());
    double mx = *std::max_element(mean.begin(), mean.end());
    std::vector<double> edges(nb + 1);
    auto linspace = [&](double a, double b) {
      const double step = (b - a) / nb;
      for (int i = 0; i <= nb; ++i) edges[i] = static_cast<double>(i) * step + a;
      edges[nb] = b;
    };
    if (mn == mx) {
      mn -= mn != 0 ? 0.001 * std::fabs(mn) : 0.001;
      mx += mx != 0 ? 0.001 * std::fabs(mx) : 0.001;
      linspace(mn, mx);
    } else {
      linspace(mn, mx);
      edges[0] -= (mx - mn) * 0.001;
    }
    std::vector<int> bin(g);
    for (size_t j = 0; j < g; ++j) {
      int id = static_cast<int>(std::lower_bound(edges.begin(), edges.end(), mean[j]) - edges.begin());
      if (mean[j] == edges[0]) id = 1;
      bin[j] = id - 1;  // within [0, nb) since every mean lies inside the edges
    }
    // per-bin mean and sd (ddof 1) of the non-NaN dispersions
    std::vector<double> bsum(nb, 0.0), bmean(nb, kNaN), bsd(nb, kNaN);
    std::vector<int64_t> bcount(nb, 0);
    for (size_t j = 0; j < g; ++j)
      if (!std::isnan(disp[j])) {
        bsum[bin[j]] += disp[j];
        bcount[bin[j]] += 1;
      }
    for (int b = 0; b < nb; ++b)
      if (bcount[b] > 0) bmean[b] = bsum[b] / static_cast<double>(bcount[b]);
    std::vector<double> bss(nb, 0.0);
    for (size_t j = 0; j < g; ++j)
      if (!std::isnan(disp[j])) {
        const double d = disp[j] - bmean[bin[j]];
        bss[bin[j]] += d * d;
      }
    for (int b = 0; b < nb; ++b)
      if (bcount[b] > 1) bsd[b] = std::sqrt(bss[b] / static_cast<double>(bcount[b] - 1));
    // bins with one gene: scanpy sets sd to the bin mean and the mean to 0 (normalised value 1)
    for (int b = 0; b < nb; ++b)
      if (std::isnan(bsd[b])) {
        bsd[b] = bmean[b];
        bmean[b] = 0;
      }
    for (size_t j = 0; j < g; ++j) norm[j] = (disp[j] - bmean[bin[j]]) / bsd[bin[j]];
  } else if (g > 0) {
    // cell_ranger: bins at the 10th..100th percentiles (step 5) of the means, median/MAD within
    std::vector<double> sorted(mean);
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> edges{-std::numeric_limits<double>::infinity()};
    for (int p = 10; p < 105; p += 5) edges.push_back(np_quantile_sorted(sorted, static_cast<double>(p) / 100.0));
    edges.push_back(std::numeric_limits<double>::infinity());
    edges.erase(std::unique(edges.begin(), edges.end()), edges.end());  // pandas would raise
    const int nb = static_cast<int>(edges.size()) - 1;
    std::vector<int> bin(g);
    for (size_t j = 0; j < g; ++j)
      bin[j] = static_cast<int>(std::lower_bound(edges.begin(), edges.end(), mean[j]) - edges.begin()) - 1;
    std::vector<std::vector<double>> groups(nb);
    for (size_t j = 0; j < g; ++j) groups[bin[j]].push_back(disp[j]);
    std::vector<double> bmedian(nb, kNaN), bmad(nb, kNaN);
    for (int b = 0; b < nb; ++b) {
      if (groups[b].empty()) continue;
      std::vector<double> finite;
      for (double d : groups[b])
        if (!std::isnan(d)) finite.push_back(d);
      bmedian[b] = np_median(finite);  // pandas' groupby median skips NaN
      // statsmodels.robust.mad: median(|d - median(d)| / 0.6745...), NaN-propagating
      const double center = np_median(groups[b]);
      std::vector<double> dev;
      for (double d : groups[b]) dev.push_back(std::fabs(d - center) / 0.6744897501960817);
      bmad[b] = np_median(dev);
    }
    for (size_t j = 0; j < g; ++j) norm[j] = (disp[j] - bmedian[bin[j]]) / bmad[bin[j]];
  }

  t.highly_variable.assign(g, false);
  if (o.n_top_genes) {
    std::vector<double> finite;
    for (double v : norm)
      if (!std::isnan(v)) finite.push_back(v);
    std::sort(finite.begin(), finite.end(), std::greater<double>());
    int64_t n_top = std::min<int64_t>(*o.n_top_genes, static_cast<int64_t>(g));
    n_top = std::min<int64_t>(n_top, static_cast<int64_t>(finite.size()));
    if (n_top > 0) {
      const double cut = finite[n_top - 1];
      for (size_t j = 0; j < g; ++j) t.highly_variable[j] = nan_to_num(norm[j]) >= cut;
    }
  } else {
    for (size_t j = 0; j < g; ++j) {
      const double d = std::isnan(norm[j]) ? 0.0 : norm[j];
      t.highly_variable[j] = mean[j] > o.min_mean && mean[j] < o.max_mean && d > o.min_disp && d < o.max_disp;
    }
  }
  t.means = std::move(mean);
  t.dispersions = std::move(disp);
  t.dispersions_norm = std::move(norm);
  return t;
}

// batch code -> rows, in increasing code order (pandas categories of integer codes are sorted)
std::map<int32_t, std::vector<int64_t>> batch_rows(const io::CsrMatrix& m, const std::vector<int32_t>& batch) {
  std::map<int32_t, std::vector<int64_t>> out;
  if (batch.empty()) {
    std::vector<int64_t> all(m.n_rows);
    std::iota(all.begin(), all.end(), 0);
    out[0] = std::move(all);
    return out;
  }
  for (int64_t r = 0; r < m.n_rows; ++r) out[batch[r]].push_back(r);
  return out;
}

template <class Get>
HighlyVariableGenes dispersion_flavors(const io::CsrMatrix& m, Get get, const HighlyVariableGenesOptions& o) {
  const int64_t g = m.n_cols;
  const bool seurat = o.flavor == HvgFlavor::Seurat;
  HighlyVariableGenes out;
  if (o.batch.empty()) {
    std::vector<int64_t> rows(m.n_rows);
    std::iota(rows.begin(), rows.end(), 0);
    ColumnStats s = column_stats(m, get, rows, seurat);
    DispersionTable t = dispersion_single_batch(s.mean, s.var, o);
    out.means = std::move(t.means);
    out.dispersions = std::move(t.dispersions);
    out.dispersions_norm = std::move(t.dispersions_norm);
    out.highly_variable = std::move(t.highly_variable);
    return out;
  }
  const auto groups = batch_rows(m, o.batch);
  const size_t nbatch = groups.size();
  std::vector<double> sum_mean(g, 0.0), sum_disp(g, 0.0), sum_norm(g, 0.0);
  std::vector<int64_t> n_mean(g, 0), n_disp(g, 0), n_norm(g, 0);
  out.highly_variable_nbatches.assign(g, 0);
  auto add = [](double v, double& sum, int64_t& n) {
    if (!std::isnan(v)) {
      sum += v;
      n += 1;
    }
  };
  for (const auto& [code, rows] : groups) {
    if (rows.size() < 2)
      throw Error("highly_variable_genes: batch " + std::to_string(code) + " has " +
                  std::to_string(rows.size()) + " cell(s); each batch needs at least 2");
    ColumnStats s = column_stats(m, get, rows, seurat);
    std::vector<int64_t> kept;
    std::vector<double> mean, var;
    for (int64_t j = 0; j < g; ++j)
      if (s.n_positive[j] >= 1) {
        kept.push_back(j);
        mean.push_back(s.mean[j]);
        var.push_back(s.var[j]);
      }
    DispersionTable t = dispersion_single_batch(mean, var, o);
    std::vector<char> present(g, 0);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int64_t j = kept[i];
      present[j] = 1;
      add(t.means[i], sum_mean[j], n_mean[j]);
      add(t.dispersions[i], sum_disp[j], n_disp[j]);
      add(t.dispersions_norm[i], sum_norm[j], n_norm[j]);
      out.highly_variable_nbatches[j] += t.highly_variable[i] ? 1 : 0;
    }
    for (int64_t j = 0; j < g; ++j)
      if (!present[j]) {  // scanpy fills genes absent from a batch with 0
        n_mean[j] += 1;
        n_disp[j] += 1;
        n_norm[j] += 1;
      }
  }
  out.means.resize(g);
  out.dispersions.resize(g);
  out.dispersions_norm.resize(g);
  out.highly_variable_intersection.resize(g);
  for (int64_t j = 0; j < g; ++j) {
    out.means[j] = n_mean[j] ? sum_mean[j] / static_cast<double>(n_mean[j]) : kNaN;
    out.dispersions[j] = n_disp[j] ? sum_disp[j] / static_cast<double>(n_disp[j]) : kNaN;
    out.dispersions_norm[j] = n_norm[j] ? sum_norm[j] / static_cast<double>(n_norm[j]) : kNaN;
    out.highly_variable_intersection[j] = out.highly_variable_nbatches[j] == static_cast<int64_t>(nbatch);
  }
  out.highly_variable.assign(g, false);
  if (o.n_top_genes) {
    // by number of batches, then dispersions_norm (NaN last), both decreasing
    std::vector<int64_t> order(g);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      if (out.highly_variable_nbatches[a] != out.highly_variable_nbatches[b])
        return out.highly_variable_nbatches[a] > out.highly_variable_nbatches[b];
      const double da = out.dispersions_norm[a], db = out.dispersions_norm[b];
      if (std::isnan(da) || std::isnan(db)) return !std::isnan(da) && std::isnan(db);
      return da > db;
    });
    const int64_t n_top = std::min<int64_t>(*o.n_top_genes, g);
    for (int64_t i = 0; i < n_top; ++i) out.highly_variable[order[i]] = true;
  } else {
    for (int64_t j = 0; j < g; ++j) {
      const double d = std::isnan(out.dispersions_norm[j]) ? 0.0 : out.dispersions_norm[j];
      out.highly_variable[j] = out.means[j] > o.min_mean && out.means[j] < o.max_mean && d > o.min_disp &&
                               d < o.max_disp;
    }
  }
  return out;
}

template <class Get>
HighlyVariableGenes seurat_v3(const io::CsrMatrix& m, Get get, const HighlyVariableGenesOptions& o) {
  const int64_t g = m.n_cols;
  if (!o.n_top_genes) throw Error("highly_variable_genes: flavor \"seurat_v3\" needs n_top_genes");
  const int64_t n_top = *o.n_top_genes;
  HighlyVariableGenes out;
  const auto groups = batch_rows(m, o.batch);
  std::vector<std::vector<double>> norms;
  for (const auto& [code, rows] : groups) {
    if (rows.size() < 2)
      throw Error("highly_variable_genes: batch " + std::to_string(code) + " has " +
                  std::to_string(rows.size()) + " cell(s); each batch needs at least 2");
    ColumnStats s = column_stats(m, get, rows, false);
    std::vector<double> x, y;
    std::vector<int64_t> not_const;
    for (int64_t j = 0; j < g; ++j)
      if (s.var[j] > 0) {
        not_const.push_back(j);
        x.push_back(std::log10(s.mean[j]));
        y.push_back(std::log10(s.var[j]));
      }
    LoessOptions lo;
    lo.span = o.span;
    lo.degree = 2;
    lo.surface = o.loess_surface;
    std::vector<double> fit;
    try {
      fit = loess_fit(x, y, lo);
    } catch (const Error& e) {
      throw Error("highly_variable_genes: seurat_v3, batch " + std::to_string(code) + " (" +
                  std::to_string(not_const.size()) + " genes with non-zero variance): " + e.what());
    }
    std::vector<double> estimated(g, 0.0);  // log10 of the expected variance
    for (size_t i = 0; i < not_const.size(); ++i) estimated[not_const[i]] = fit[i];
    std::vector<double> reg_std(g);
    const double n = static_cast<double>(rows.size());
    const double vmax = std::sqrt(n);  // Seurat's clip.max default, scanpy's clip value
    for (int64_t j = 0; j < g; ++j) reg_std[j] = std::sqrt(std::pow(10.0, estimated[j]));
    // Seurat's SparseRowVarStd, in its order of operations (so that genes with equal statistics tie
    // or not exactly as in Seurat): per gene, over the stored entries in cell order,
    // sum min(vmax, (x - mean)/sd)^2, then add nzero * (mean/sd)^2, divide by n-1. The same value
    // as scanpy's clipped formula up to rounding.
    std::vector<double> acc(g, 0.0);
    std::vector<int64_t> stored(g, 0);
    for (int64_t r : rows)
      for (int64_t k = m.indptr[r]; k < m.indptr[r + 1]; ++k) {
        const int32_t j = m.indices[k];
        const double z = std::min(vmax, (get(k) - s.mean[j]) / reg_std[j]);
        acc[j] += z * z;
        stored[j] += 1;
      }
    std::vector<double> norm(g);
    for (int64_t j = 0; j < g; ++j) {
      const double z0 = (0 - s.mean[j]) / reg_std[j];
      const double total = acc[j] + z0 * z0 * static_cast<double>(static_cast<int64_t>(rows.size()) - stored[j]);
      norm[j] = total / (n - 1);
    }
    if (groups.size() == 1) {
      out.variances_expected.assign(g, 0.0);
      for (size_t i = 0; i < not_const.size(); ++i)
        out.variances_expected[not_const[i]] = std::pow(10.0, fit[i]);
    }
    norms.push_back(std::move(norm));
  }
  // ranks within each batch (0 = most variable), stable for ties
  const size_t nb = norms.size();
  std::vector<std::vector<int64_t>> ranks(nb, std::vector<int64_t>(g));
  for (size_t b = 0; b < nb; ++b) {
    std::vector<int64_t> order(g);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t c) { return norms[b][a] > norms[b][c]; });
    for (int64_t i = 0; i < g; ++i) ranks[b][order[i]] = i;
  }
  out.highly_variable_rank.assign(g, kNaN);
  out.variances_norm.assign(g, 0.0);
  std::vector<int64_t> nbatches(g, 0);
  for (int64_t j = 0; j < g; ++j) {
    std::vector<double> in_top;
    double sum = 0;
    for (size_t b = 0; b < nb; ++b) {
      sum += norms[b][j];
      if (ranks[b][j] < n_top) in_top.push_back(static_cast<double>(ranks[b][j]));
    }
    nbatches[j] = static_cast<int64_t>(in_top.size());
    out.variances_norm[j] = sum / static_cast<double>(nb);
    if (!in_top.empty()) out.highly_variable_rank[j] = np_median(in_top);
  }
  std::vector<int64_t> order(g);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const double ra = out.highly_variable_rank[a], rb = out.highly_variable_rank[b];
    if (std::isnan(ra) != std::isnan(rb)) return !std::isnan(ra);
    if (!std::isnan(ra) && ra != rb) return ra < rb;
    return nbatches[a] > nbatches[b];
  });
  out.highly_variable.assign(g, false);
  for (int64_t i = 0; i < std::min<int64_t>(n_top, g); ++i) out.highly_variable[order[i]] = true;
  // means and variances of all cells
  std::vector<int64_t> all(m.n_rows);
  std::iota(all.begin(), all.end(), 0);
  ColumnStats s = column_stats(m, get, all, false);
  out.means = std::move(s.mean);
  out.variances = std::move(s.var);
  if (!o.batch.empty()) out.highly_variable_nbatches = std::move(nbatches);
  return out;
}

template <class Get>
HighlyVariableGenes run(const io::CsrMatrix& m, Get get, const HighlyVariableGenesOptions& o) {
  if (!o.batch.empty() && static_cast<int64_t>(o.batch.size()) != m.n_rows)
    throw Error("highly_variable_genes: batch has " + std::to_string(o.batch.size()) +
                " entries, expected one per cell (" + std::to_string(m.n_rows) + ")");
  if (m.n_rows < 2) throw Error("highly_variable_genes: need at least 2 cells, got " + std::to_string(m.n_rows));
  if (o.n_top_genes && *o.n_top_genes < 1)
    throw Error("highly_variable_genes: n_top_genes must be positive, got " + std::to_string(*o.n_top_genes));
  if (o.n_bins < 1) throw Error("highly_variable_genes: n_bins must be positive");
  if (o.flavor == HvgFlavor::SeuratV3) return seurat_v3(m, get, o);
  return dispersion_flavors(m, get, o);
}

}  // namespace

HighlyVariableGenes highly_variable_genes(const io::CsrMatrix& m, const HighlyVariableGenesOptions& options) {
  return run(m, [&](int64_t k) { return static_cast<double>(m.data[k]); }, options);
}

HighlyVariableGenes highly_variable_genes(const io::CsrMatrix& m, const std::vector<double>& values,
                                          const HighlyVariableGenesOptions& options) {
  if (static_cast<int64_t>(values.size()) != m.nnz())
    throw Error("highly_variable_genes: values has " + std::to_string(values.size()) +
                " entries, expected one per stored entry (" + std::to_string(m.nnz()) + ")");
  return run(m, [&](int64_t k) { return values[k]; }, options);
}

}  // namespace scfm::pp
