#include "scfm/eval/umap.h"

#include <igraph/igraph.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <string>

#include "scfm/eval/leiden.h"
#include "scfm/eval/linalg.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"
#include "scfm/util/splitmix.h"

namespace scfm::eval {
namespace {

// "auto" lays out up to this many cells in umap-learn's sequential order (docs/umap.md)
constexpr int64_t kSequentialCells = 20000;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Counter-based uniform numbers in [0, 1) keyed by (seed, a, b, c).
double keyed_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = util::splitmix64(seed ^ 0x756d6170ULL);  // "umap"
  z = util::splitmix64(z ^ a);
  z = util::splitmix64(z ^ b);
  z = util::splitmix64(z ^ c);
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}
uint64_t keyed_u64(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t z = util::splitmix64(seed ^ 0x6e656761ULL);  // "nega"
  z = util::splitmix64(z ^ a);
  z = util::splitmix64(z ^ b);
  return util::splitmix64(z ^ c);
}
// A standard normal by Box-Muller on two keyed uniforms.
double keyed_normal(uint64_t seed, uint64_t a, uint64_t b) {
  const double u1 = 1.0 - keyed_uniform(seed, a, b, 0), u2 = keyed_uniform(seed, a, b, 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// ---- the spectral start -------------------------------------------------------------------

// y = D^-1/2 W D^-1/2 x on one component's subgraph (local vertex numbers).
struct NormalisedAdjacency {
  const SparseGraph* g;
  const std::vector<int64_t>* vertices;  // local -> global
  const std::vector<int64_t>* local;     // global -> local (-1 outside)
  std::vector<double> inv_sqrt_degree;   // local
};

igraph_error_t normalised_matvec(igraph_real_t* to, const igraph_real_t* from, int n, void* extra) {
  const auto& m = *static_cast<const NormalisedAdjacency*>(extra);
  for (int i = 0; i < n; ++i) {
    const int64_t v = (*m.vertices)[static_cast<size_t>(i)];
    double s = 0;
    for (int64_t e = m.g->indptr[v]; e < m.g->indptr[v + 1]; ++e) {
      const int64_t u = (*m.local)[static_cast<size_t>(m.g->indices[e])];
      if (u >= 0) s += m.g->weights[e] * m.inv_sqrt_degree[static_cast<size_t>(u)] * from[u];
    }
    to[i] = s * m.inv_sqrt_degree[static_cast<size_t>(i)];
  }
  return IGRAPH_SUCCESS;
}

// Each column's sign makes its largest-magnitude entry positive (eigenvectors have no sign).
void fix_signs(std::vector<double>& x, int64_t n, int dim) {
  for (int c = 0; c < dim; ++c) {
    double best = 0;
    for (int64_t i = 0; i < n; ++i)
      if (std::fabs(x[i * dim + c]) > std::fabs(best)) best = x[i * dim + c];
    if (best < 0)
      for (int64_t i = 0; i < n; ++i) x[i * dim + c] = -x[i * dim + c];
  }
}

// umap-learn's spectral_layout on the vertices of one component: the eigenvectors of
// I - D^-1/2 W D^-1/2 for the 2nd to (dim+1)th smallest eigenvalues, found as the largest ones
// of D^-1/2 W D^-1/2 (ARPACK "LA", ones as the start vector, ncv = max(2k + 1, sqrt n),
// tol 1e-4, at most 5n iterations: eigsh's settings there). Returns false when ARPACK fails.
bool component_spectral(const SparseGraph& g, const std::vector<int64_t>& vertices, std::vector<int64_t>& local,
                        int dim, std::vector<double>& out) {
  const int64_t n = static_cast<int64_t>(vertices.size());
  for (int64_t i = 0; i < n; ++i) local[static_cast<size_t>(vertices[i])] = i;
  NormalisedAdjacency m{&g, &vertices, &local, std::vector<double>(static_cast<size_t>(n), 0.0)};
  bool ok = true;
  for (int64_t i = 0; i < n && ok; ++i) {
    const int64_t v = vertices[i];
    double deg = 0;
    for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e)
      if (local[static_cast<size_t>(g.indices[e])] >= 0) deg += g.weights[e];
    if (!(deg > 0)) ok = false;
    m.inv_sqrt_degree[i] = ok ? 1.0 / std::sqrt(deg) : 0.0;
  }
  const int k = dim + 1;
  if (ok) {
    std::lock_guard<std::mutex> lock(igraph_mutex());
    igraph_set_error_handler(igraph_error_handler_ignore);
    igraph_arpack_options_t options;
    igraph_arpack_options_init(&options);
    options.n = static_cast<int>(n);
    options.which[0] = 'L';
    options.which[1] = 'A';
    options.nev = k;
    options.ncv = static_cast<int>(std::min<int64_t>(n, std::max<int64_t>(2 * k + 1, static_cast<int64_t>(std::sqrt(n)))));
    options.tol = 1e-4;
    options.mxiter = static_cast<int>(std::min<int64_t>(std::numeric_limits<int>::max(), 5 * n));
    options.start = 1;
    igraph_vector_t values;
    igraph_matrix_t vectors;
    igraph_vector_init(&values, 0);
    igraph_matrix_init(&vectors, n, 1);
    for (int64_t i = 0; i < n; ++i) MATRIX(vectors, i, 0) = 1.0;
    const igraph_error_t rc = igraph_arpack_rssolve(normalised_matvec, &m, &options, nullptr, &values, &vectors);
    ok = rc == IGRAPH_SUCCESS && igraph_vector_size(&values) >= k && igraph_matrix_ncol(&vectors) >= k;
    if (ok) {
      std::vector<int> order(static_cast<size_t>(k));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return VECTOR(values)[x] > VECTOR(values)[y]; });
      out.assign(static_cast<size_t>(n * dim), 0.0);
      for (int c = 0; c < dim; ++c)
        for (int64_t i = 0; i < n; ++i) out[i * dim + c] = MATRIX(vectors, i, order[c + 1]);
      for (double v : out) ok = ok && std::isfinite(v);
    }
    igraph_vector_destroy(&values);
    igraph_matrix_destroy(&vectors);
  }
  for (int64_t v : vertices) local[static_cast<size_t>(v)] = -1;
  if (ok) fix_signs(out, n, dim);
  return ok;
}

// umap-learn's component_layout: the component centroids embedded spectrally (affinity
// exp(-d^2), sklearn's normalised-Laplacian spectral embedding), divided by its maximum. When the
// affinities vanish (centroids far apart), the centroids' principal components instead.
std::vector<double> centroid_layout(const std::vector<double>& centroids, int64_t nc, int64_t d, int dim) {
  std::vector<double> aff(static_cast<size_t>(nc * nc), 0.0), deg(static_cast<size_t>(nc), 0.0);
  for (int64_t i = 0; i < nc; ++i)
    for (int64_t j = 0; j < nc; ++j) {
      if (i == j) continue;
      double s = 0;
      for (int64_t c = 0; c < d; ++c) {
        const double t = centroids[i * d + c] - centroids[j * d + c];
        s += t * t;
      }
      aff[i * nc + j] = std::exp(-s);
      deg[i] += aff[i * nc + j];
    }
  std::vector<double> out(static_cast<size_t>(nc * dim), 0.0);
  const bool degenerate = *std::min_element(deg.begin(), deg.end()) < 1e-200;
  if (!degenerate) {
    for (int64_t i = 0; i < nc; ++i)
      for (int64_t j = 0; j < nc; ++j) aff[i * nc + j] /= std::sqrt(deg[i] * deg[j]);
    const SymmetricEigen e = symmetric_eigen(aff, nc);  // descending: 1 - (Laplacian's ascending)
    for (int c = 0; c < dim; ++c)
      for (int64_t i = 0; i < nc; ++i) out[i * dim + c] = e.vectors[static_cast<size_t>(c + 1)][i] / std::sqrt(deg[i]);
  } else {
    std::vector<float> cf(centroids.begin(), centroids.end());
    const Pca p = pca(cf.data(), nc, d, dim);
    for (int64_t i = 0; i < nc; ++i)
      for (int c = 0; c < std::min<int64_t>(dim, p.n_comps); ++c) out[i * dim + c] = p.scores[i * p.n_comps + c];
  }
  fix_signs(out, nc, dim);
  double mx = -std::numeric_limits<double>::infinity();
  for (double v : out) mx = std::max(mx, v);
  if (mx > 0)
    for (double& v : out) v /= mx;
  return out;
}

}  // namespace

void umap_ab(double spread, double min_dist, double& a_out, double& b_out) {
  if (!(spread > 0) || !(min_dist >= 0) || !(min_dist <= 3 * spread))
    throw Error("umap: need spread > 0 and 0 <= min_dist <= 3 spread, got spread " + std::to_string(spread) +
                ", min_dist " + std::to_string(min_dist));
  constexpr int kPoints = 300;
  std::vector<double> x(kPoints), y(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    x[i] = spread * 3.0 * i / (kPoints - 1);
    y[i] = x[i] < min_dist ? 1.0 : std::exp(-(x[i] - min_dist) / spread);
  }
  auto cost = [&](double a, double b) {
    double s = 0;
    for (int i = 0; i < kPoints; ++i) {
      const double r = 1.0 / (1.0 + a * std::pow(x[i], 2 * b)) - y[i];
      s += r * r;
    }
    return s;
  };
  // Levenberg-Marquardt on (a, b) from (1, 1), as scipy's curve_fit (MINPACK lmdif)
  double a = 1, b = 1, lambda = 1e-3, c = cost(a, b);
  for (int it = 0; it < 500; ++it) {
    double jtj[3] = {0, 0, 0}, jtr[2] = {0, 0};
    for (int i = 0; i < kPoints; ++i) {
      if (x[i] <= 0) continue;
      const double u = std::pow(x[i], 2 * b), den = 1.0 + a * u, f = 1.0 / den, r = f - y[i];
      const double da = -u / (den * den), db = -a * u * 2.0 * std::log(x[i]) / (den * den);
      jtj[0] += da * da;
      jtj[1] += da * db;
      jtj[2] += db * db;
      jtr[0] += da * r;
      jtr[1] += db * r;
    }
    bool improved = false;
    for (int tries = 0; tries < 30 && !improved; ++tries) {
      const double m00 = jtj[0] * (1 + lambda), m11 = jtj[2] * (1 + lambda), m01 = jtj[1];
      const double det = m00 * m11 - m01 * m01;
      if (!(std::fabs(det) > 0)) break;
      const double sa = -(m11 * jtr[0] - m01 * jtr[1]) / det, sb = -(m00 * jtr[1] - m01 * jtr[0]) / det;
      const double na = a + sa, nb = b + sb, nc = cost(na, nb);
      if (std::isfinite(nc) && nc < c) {
        const double gain = c - nc;
        a = na;
        b = nb;
        c = nc;
        lambda = std::max(lambda / 10, 1e-12);
        improved = true;
        if (gain <= 1e-15 * std::max(1.0, c) && std::fabs(sa) + std::fabs(sb) < 1e-12) it = 1 << 20;
      } else {
        lambda *= 10;
      }
    }
    if (!improved) break;
  }
  a_out = a;
  b_out = b;
}

std::vector<double> umap_spectral_init(const SparseGraph& g, const EmbeddingView& data, int dim, uint64_t seed,
                                       std::string* note) {
  const int64_t n = g.n;
  const std::vector<int64_t> comp = connected_components(g);
  const int64_t nc = n == 0 ? 0 : *std::max_element(comp.begin(), comp.end()) + 1;
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(nc));
  for (int64_t i = 0; i < n; ++i) members[static_cast<size_t>(comp[i])].push_back(i);
  std::vector<int64_t> local(static_cast<size_t>(n), -1);
  std::vector<double> out(static_cast<size_t>(n * dim), 0.0), part;
  int failures = 0;
  auto random_fill = [&](const std::vector<int64_t>& vs, const double* centre, double range) {
    for (int64_t v : vs)
      for (int c = 0; c < dim; ++c)
        out[v * dim + c] = (centre ? centre[c] : 0.0) + range * (2.0 * keyed_uniform(seed, 1, v, c) - 1.0);
  };
  if (nc == 1) {
    if (component_spectral(g, members[0], local, dim, part)) {
      out = part;
    } else {
      ++failures;
      random_fill(members[0], nullptr, 10.0);
    }
  } else {
    std::vector<double> meta;
    if (nc > 2 * dim) {
      std::vector<double> centroids(static_cast<size_t>(nc * data.d), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t c = 0; c < data.d; ++c) centroids[comp[i] * data.d + c] += data.row(i)[c];
      for (int64_t k = 0; k < nc; ++k)
        for (int64_t c = 0; c < data.d; ++c) centroids[k * data.d + c] /= static_cast<double>(members[k].size());
      meta = centroid_layout(centroids, nc, data.d, dim);
    } else {
      // +-unit vectors: components 0..k-1 on the axes, k.. on their negatives
      const int64_t k = (nc + 1) / 2;
      meta.assign(static_cast<size_t>(nc * dim), 0.0);
      for (int64_t i = 0; i < nc; ++i) meta[i * dim + (i % k)] = i < k ? 1.0 : -1.0;
    }
    for (int64_t label = 0; label < nc; ++label) {
      const double* centre = meta.data() + label * dim;
      double range = std::numeric_limits<double>::infinity();
      for (int64_t o = 0; o < nc; ++o) {
        double s = 0;
        for (int c = 0; c < dim; ++c) s += (meta[o * dim + c] - centre[c]) * (meta[o * dim + c] - centre[c]);
        if (s > 0) range = std::min(range, std::sqrt(s));
      }
      range = std::isfinite(range) ? range / 2.0 : 1.0;
      const auto& vs = members[static_cast<size_t>(label)];
      const int64_t size = static_cast<int64_t>(vs.size());
      if (size < 2 * dim || size <= dim + 1) {
        random_fill(vs, centre, range);
        continue;
      }
      if (!component_spectral(g, vs, local, dim, part)) {
        ++failures;
        random_fill(vs, centre, range);
        continue;
      }
      double mx = 0;
      for (double v : part) mx = std::max(mx, std::fabs(v));
      const double expansion = mx > 0 ? range / mx : 0.0;
      for (int64_t i = 0; i < size; ++i)
        for (int c = 0; c < dim; ++c) out[vs[i] * dim + c] = part[i * dim + c] * expansion + centre[c];
    }
  }
  if (note != nullptr) {
    *note = nc > 1 ? "spectral, " + std::to_string(nc) + " components placed apart" : "spectral";
    if (failures > 0) *note += "; ARPACK did not converge on " + std::to_string(failures) + " component(s): random start there";
  }
  return out;
}

void umap_optimize(const SparseGraph& graph, const UmapOptions& opt, int n_epochs, double a, double b,
                   std::vector<float>& y, int64_t* n_edges_out) {
  const int64_t n = graph.n;
  const int dim = opt.dim;
  // edges below max / n_epochs are dropped (umap-learn: they would be sampled less than once)
  double wmax = 0;
  for (double w : graph.weights) wmax = std::max(wmax, w);
  std::vector<int64_t> indptr(static_cast<size_t>(n + 1), 0), tail;
  std::vector<double> eps;  // epochs per sample
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t e = graph.indptr[i]; e < graph.indptr[i + 1]; ++e) {
      const double w = graph.weights[e];
      if (!(w >= wmax / n_epochs) || w <= 0) continue;
      tail.push_back(graph.indices[e]);
      eps.push_back(wmax / w);  // = n_epochs / (n_epochs * w / wmax)
    }
    indptr[i + 1] = static_cast<int64_t>(tail.size());
  }
  const int64_t m = static_cast<int64_t>(tail.size());
  if (n_edges_out != nullptr) *n_edges_out = m;
  std::vector<double> next_sample(eps), eps_neg(static_cast<size_t>(m)), next_neg(static_cast<size_t>(m));
  for (int64_t e = 0; e < m; ++e) eps_neg[e] = next_neg[e] = eps[e] / opt.negative_sample_rate;
  const double gamma = opt.repulsion_strength;
  const float fa = static_cast<float>(a), fb = static_cast<float>(b);
  auto clip = [](float v) { return v > 4.0f ? 4.0f : (v < -4.0f ? -4.0f : v); };
  auto attract = [&](const float* cur, const float* other) {
    float d2 = 0;
    for (int c = 0; c < dim; ++c) d2 += (cur[c] - other[c]) * (cur[c] - other[c]);
    return d2 > 0 ? -2.0f * fa * fb * std::pow(d2, fb - 1.0f) / (fa * std::pow(d2, fb) + 1.0f) : 0.0f;
  };
  auto repel = [&](float* cur, const float* neg, float alpha) {
    float nd2 = 0;
    for (int c = 0; c < dim; ++c) nd2 += (cur[c] - neg[c]) * (cur[c] - neg[c]);
    float coeff = 0;
    if (nd2 > 0) coeff = 2.0f * static_cast<float>(gamma) * fb / ((0.001f + nd2) * (fa * std::pow(nd2, fb) + 1.0f));
    for (int c = 0; c < dim; ++c) cur[c] += (coeff > 0 ? clip(coeff * (cur[c] - neg[c])) : 4.0f) * alpha;
  };
  // edge e's negative samples due at this epoch (keyed by seed, epoch, edge, sample), each pushing
  // cell i away from its position in `from`
  auto negatives = [&](int epoch, int64_t e, int64_t i, float* cur, const float* from, float alpha) {
    const int64_t n_neg = static_cast<int64_t>((epoch - next_neg[e]) / eps_neg[e]);
    for (int64_t p = 0; p < n_neg; ++p) {
      const auto k = static_cast<int64_t>(
          keyed_u64(opt.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(e), static_cast<uint64_t>(p)) %
          static_cast<uint64_t>(n));
      if (k != i) repel(cur, from + k * dim, alpha);
    }
    next_neg[e] += static_cast<double>(n_neg) * eps_neg[e];
  };
  const bool sequential = opt.layout == "sequential" || (opt.layout == "auto" && n <= kSequentialCells);
  std::vector<float> previous(sequential ? 0 : y.size());
  util::Progress bar("umap layout", n_epochs, "epochs");
  for (int epoch = 0; epoch < n_epochs; ++epoch) {
    bar.set(epoch);
    const float alpha = static_cast<float>(opt.learning_rate * (1.0 - static_cast<double>(epoch) / n_epochs));
    if (sequential) {
      // umap-learn's own order: edge by edge, both ends moving, negatives read where they are now
      for (int64_t i = 0; i < n; ++i) {
        float* cur = y.data() + i * dim;
        for (int64_t e = indptr[i]; e < indptr[i + 1]; ++e) {
          if (next_sample[e] > epoch) continue;
          float* other = y.data() + tail[e] * dim;
          const float coeff = attract(cur, other);
          for (int c = 0; c < dim; ++c) {
            const float g = clip(coeff * (cur[c] - other[c]));
            cur[c] += g * alpha;
            other[c] -= g * alpha;
          }
          next_sample[e] += eps[e];
          negatives(epoch, e, i, cur, y.data(), alpha);
        }
      }
      continue;
    }
    // every cell against where the others stood when the epoch began: any thread count, same bits
    std::copy(y.begin(), y.end(), previous.begin());
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n; ++i) {
      float* cur = y.data() + i * dim;
      for (int64_t e = indptr[i]; e < indptr[i + 1]; ++e) {
        if (next_sample[e] > epoch) continue;
        const float* other = previous.data() + tail[e] * dim;
        const float coeff = attract(cur, other);
        // twice: as the head of this edge and as the tail of its reverse (umap-learn's move_other)
        for (int c = 0; c < dim; ++c) cur[c] += 2.0f * clip(coeff * (cur[c] - other[c])) * alpha;
        next_sample[e] += eps[e];
        negatives(epoch, e, i, cur, previous.data(), alpha);
      }
    }
  }
}

UmapResult umap(const EmbeddingView& x, const UmapOptions& opt) {
  if (x.n < 3) throw Error("umap: need at least 3 cells, got " + std::to_string(x.n));
  if (opt.dim < 1 || opt.dim > 16) throw Error("umap: dim must be in 1..16, got " + std::to_string(opt.dim));
  if (opt.n_neighbors < 2) throw Error("umap: n_neighbors must be at least 2, got " + std::to_string(opt.n_neighbors));
  if (opt.n_epochs < 0) throw Error("umap: n_epochs must be >= 0 (0: automatic)");
  if (!(opt.negative_sample_rate > 0)) throw Error("umap: negative_sample_rate must be positive");
  if (opt.layout != "auto" && opt.layout != "sequential" && opt.layout != "parallel")
    throw Error("umap: layout must be 'auto', 'sequential' or 'parallel', got '" + opt.layout + "'");
  if (opt.init != "spectral" && opt.init != "random")
    throw Error("umap: init must be 'spectral' or 'random', got '" + opt.init + "'");
  UmapResult r;
  r.n = x.n;
  r.dim = opt.dim;
  umap_ab(opt.spread, opt.min_dist, r.a, r.b);
  r.n_epochs = opt.n_epochs > 0 ? opt.n_epochs : (x.n <= 10000 ? 500 : 200);
  auto t0 = std::chrono::steady_clock::now();
  const SparseGraph g = umap_connectivities(exact_knn(x, opt.n_neighbors));
  r.knn_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const std::vector<int64_t> comp = connected_components(g);
  r.components = static_cast<int>(*std::max_element(comp.begin(), comp.end()) + 1);
  const int64_t n = x.n, dim = opt.dim;
  std::vector<double> init;
  if (opt.init == "spectral") {
    init = umap_spectral_init(g, x, opt.dim, opt.seed, &r.init);
    double mx = 0;
    for (double v : init) mx = std::max(mx, std::fabs(v));
    const double expansion = mx > 0 ? 10.0 / mx : 1.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < dim; ++c) {
        const float v = static_cast<float>(init[i * dim + c] * expansion);
        init[i * dim + c] = static_cast<double>(v + static_cast<float>(1e-4 * keyed_normal(opt.seed, 2 + i, c)));
      }
  } else {
    r.init = "random";
    init.resize(static_cast<size_t>(n * dim));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < dim; ++c) init[i * dim + c] = -10.0 + 20.0 * keyed_uniform(opt.seed, 3, i, c);
  }
  // each axis to [0, 10]
  r.x.assign(static_cast<size_t>(n * dim), 0.0f);
  for (int64_t c = 0; c < dim; ++c) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, init[i * dim + c]);
      hi = std::max(hi, init[i * dim + c]);
    }
    const double span = hi > lo ? hi - lo : 1.0;
    for (int64_t i = 0; i < n; ++i) r.x[i * dim + c] = static_cast<float>(10.0 * (init[i * dim + c] - lo) / span);
  }
  r.init_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  umap_optimize(g, opt, r.n_epochs, r.a, r.b, r.x, &r.n_edges);
  r.layout_seconds = seconds_since(t0);
  return r;
}

double trustworthiness(const EmbeddingView& x, const EmbeddingView& y, int64_t k) {
  const int64_t n = x.n;
  if (y.n != n) throw Error("trustworthiness: " + std::to_string(n) + " rows in x but " + std::to_string(y.n) + " in y");
  if (k < 1 || !(static_cast<double>(k) < n / 2.0))
    throw Error("trustworthiness: need 1 <= k < n / 2, got k " + std::to_string(k) + " for " + std::to_string(n) + " cells");
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::vector<double> penalty(static_cast<size_t>(n), 0.0);
  for_each_distance_row(centre_rows(x.x, x.d, all), int64_t{1} << 25, [&](int64_t i, float* dx) {
    // the layout's k nearest (itself excluded), by (distance, row)
    std::vector<std::pair<double, int64_t>> near;
    near.reserve(static_cast<size_t>(n));
    const float* yi = y.row(i);
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0;
      for (int64_t c = 0; c < y.d; ++c) {
        const double t = static_cast<double>(yi[c]) - y.row(j)[c];
        s += t * t;
      }
      near.emplace_back(s, j);
    }
    std::nth_element(near.begin(), near.begin() + (k - 1), near.end());
    std::sort(near.begin(), near.begin() + k);
    // rank in x: 1 + the cells (other than i) strictly nearer to i than j
    dx[i] = std::numeric_limits<float>::infinity();
    std::vector<float> sorted(dx, dx + n);
    std::sort(sorted.begin(), sorted.end());
    double p = 0;
    for (int64_t t = 0; t < k; ++t) {
      const float dj = dx[near[t].second];
      const int64_t rank = 1 + (std::lower_bound(sorted.begin(), sorted.end(), dj) - sorted.begin());
      if (rank > k) p += static_cast<double>(rank - k);
    }
    penalty[i] = p;
  });
  double t = 0;
  for (double p : penalty) t += p;
  const double nn = static_cast<double>(n), kk = static_cast<double>(k);
  return 1.0 - t * (2.0 / (nn * kk * (2.0 * nn - 3.0 * kk - 1.0)));
}

}  // namespace scfm::eval
