#include "scfm/pp/harmony.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "scfm/eval/linalg.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::pp {
namespace {

// A uniform double in [0, 1) from a 64-bit key.
double unit(uint64_t key) { return static_cast<double>(util::splitmix64(key) >> 11) * 0x1.0p-53; }

// Fisher-Yates permutation of 0..n-1 keyed by (seed, stream).
std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  const uint64_t base = util::splitmix64(seed ^ util::splitmix64(stream + 0x6861726d6f6e79ULL));
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(unit(base + static_cast<uint64_t>(i)) * static_cast<double>(i + 1));
    std::swap(p[i], p[std::min(j, i)]);
  }
  return p;
}

// Squared Euclidean distances of the rows of x (n x d) to the centres c (k x d): n x k.
void sq_distances(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<double>& c, int64_t k,
                  std::vector<double>& out) {
  out.resize(static_cast<size_t>(n * k));
  eval::gemm_abt(n, k, d, -2.0, x.data(), c.data(), 0.0, out.data());
  std::vector<double> cn(static_cast<size_t>(k), 0.0);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t t = 0; t < d; ++t) cn[j] += c[j * d + t] * c[j * d + t];
  for (int64_t i = 0; i < n; ++i) {
    double xn = 0;
    for (int64_t t = 0; t < d; ++t) xn += x[i * d + t] * x[i * d + t];
    for (int64_t j = 0; j < k; ++j) out[i * k + j] = std::max(0.0, out[i * k + j] + xn + cn[j]);
  }
}

// k-means (k-means++ seeding with 2 + ln k local trials as sklearn, Lloyd steps), best of
// n_init starts by inertia. Returns k x d centres.
std::vector<double> kmeans(const std::vector<double>& x, int64_t n, int64_t d, int64_t k, uint64_t seed) {
  constexpr int kStarts = 10, kSteps = 25;
  std::vector<double> best_c;
  double best_inertia = std::numeric_limits<double>::infinity();
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::vector<double> dist;
  for (int start = 0; start < kStarts; ++start) {
    uint64_t key = util::splitmix64(seed * 1000003ULL + static_cast<uint64_t>(start) + 0x6b6d65616e73ULL);
    auto draw = [&]() { return unit(key++); };
    // seeding
    std::vector<double> c(static_cast<size_t>(k * d));
    int64_t first = std::min<int64_t>(n - 1, static_cast<int64_t>(draw() * static_cast<double>(n)));
    std::copy(x.begin() + first * d, x.begin() + (first + 1) * d, c.begin());
    std::vector<double> closest(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t t = 0; t < d; ++t) s += (x[i * d + t] - c[t]) * (x[i * d + t] - c[t]);
      closest[i] = s;
    }
    std::vector<double> cum(static_cast<size_t>(n));
    for (int64_t j = 1; j < k; ++j) {
      std::partial_sum(closest.begin(), closest.end(), cum.begin());
      const double total = cum.back();
      int64_t pick = -1;
      double pick_pot = std::numeric_limits<double>::infinity();
      std::vector<double> pick_closest;
      for (int t = 0; t < trials; ++t) {
        const double r = draw() * total;
        int64_t cand = std::lower_bound(cum.begin(), cum.end(), r) - cum.begin();
        cand = std::min(cand, n - 1);
        std::vector<double> cl(static_cast<size_t>(n));
        double pot = 0;
        for (int64_t i = 0; i < n; ++i) {
          double s = 0;
          for (int64_t q = 0; q < d; ++q) s += (x[i * d + q] - x[cand * d + q]) * (x[i * d + q] - x[cand * d + q]);
          cl[i] = std::min(closest[i], s);
          pot += cl[i];
        }
        if (pot < pick_pot) {
          pick_pot = pot;
          pick = cand;
          pick_closest = std::move(cl);
        }
      }
      std::copy(x.begin() + pick * d, x.begin() + (pick + 1) * d, c.begin() + j * d);
      closest = std::move(pick_closest);
    }
    // Lloyd
    std::vector<int64_t> assign(static_cast<size_t>(n), -1);
    double inertia = 0;
    for (int step = 0; step < kSteps; ++step) {
      sq_distances(x, n, d, c, k, dist);
      bool changed = false;
      inertia = 0;
      for (int64_t i = 0; i < n; ++i) {
        int64_t a = 0;
        for (int64_t j = 1; j < k; ++j)
          if (dist[i * k + j] < dist[i * k + a]) a = j;
        changed |= assign[i] != a;
        assign[i] = a;
        inertia += dist[i * k + a];
      }
      if (!changed) break;
      std::vector<double> sum(static_cast<size_t>(k * d), 0.0);
      std::vector<int64_t> count(static_cast<size_t>(k), 0);
      for (int64_t i = 0; i < n; ++i) {
        ++count[assign[i]];
        for (int64_t t = 0; t < d; ++t) sum[assign[i] * d + t] += x[i * d + t];
      }
      for (int64_t j = 0; j < k; ++j)
        if (count[j] > 0)
          for (int64_t t = 0; t < d; ++t) c[j * d + t] = sum[j * d + t] / static_cast<double>(count[j]);
    }
    sq_distances(x, n, d, c, k, dist);
    inertia = 0;
    for (int64_t i = 0; i < n; ++i) inertia += *std::min_element(dist.begin() + i * k, dist.begin() + (i + 1) * k);
    if (inertia < best_inertia) {
      best_inertia = inertia;
      best_c = c;
    }
  }
  return best_c;
}

void normalize_rows(std::vector<double>& m, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += m[r * cols + c] * m[r * cols + c];
    s = std::sqrt(s);
    if (s > 0)
      for (int64_t c = 0; c < cols; ++c) m[r * cols + c] /= s;
  }
}

// Inverse of a small dense matrix (Gauss-Jordan, partial pivoting).
std::vector<double> inverse(std::vector<double> a, int64_t m) {
  std::vector<double> inv(static_cast<size_t>(m * m), 0.0);
  for (int64_t i = 0; i < m; ++i) inv[i * m + i] = 1;
  for (int64_t col = 0; col < m; ++col) {
    int64_t piv = col;
    for (int64_t r = col + 1; r < m; ++r)
      if (std::fabs(a[r * m + col]) > std::fabs(a[piv * m + col])) piv = r;
    if (a[piv * m + col] == 0) throw Error("harmony: singular ridge system (a batch without cells?)");
    if (piv != col)
      for (int64_t c = 0; c < m; ++c) {
        std::swap(a[piv * m + c], a[col * m + c]);
        std::swap(inv[piv * m + c], inv[col * m + c]);
      }
    const double p = a[col * m + col];
    for (int64_t c = 0; c < m; ++c) {
      a[col * m + c] /= p;
      inv[col * m + c] /= p;
    }
    for (int64_t r = 0; r < m; ++r) {
      if (r == col) continue;
      const double f = a[r * m + col];
      if (f == 0) continue;
      for (int64_t c = 0; c < m; ++c) {
        a[r * m + c] -= f * a[col * m + c];
        inv[r * m + c] -= f * inv[col * m + c];
      }
    }
  }
  return inv;
}

struct State {
  int64_t n, d, k, b;
  const HarmonyOptions& o;
  const std::vector<int32_t>& batch;
  std::vector<double> z_orig, z_corr, z_cos, z_cos_t;  // n x d (z_cos_t: d x n)
  std::vector<double> y;                               // k x d
  std::vector<double> dist, r, scale;                  // k x n
  std::vector<double> e, obs;                          // k x b
  std::vector<double> pr_b;                            // b
  std::vector<double> obj_kmeans, obj_harmony;
  uint64_t shuffles = 0;

  void transpose_cos() {
    z_cos_t.resize(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < d; ++t) z_cos_t[t * n + i] = z_cos[i * d + t];
  }
  void compute_dist() {
    dist.resize(static_cast<size_t>(k * n));
    eval::gemm_abt(k, n, d, 1.0, y.data(), z_cos.data(), 0.0, dist.data());
    for (double& v : dist) v = 2 * (1 - v);
  }
  void compute_objective() {
    double km = 0, ent = 0, cross = 0;
    for (int64_t j = 0; j < k; ++j) {
      double ej = 0, cj = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double rv = r[j * n + i];
        km += rv * dist[j * n + i];
        const double h = rv * std::log(rv);
        if (std::isfinite(h)) ej += h;
        const int32_t bb = batch[i];
        cj += rv * o.theta * std::log((obs[j * b + bb] + 1) / (e[j * b + bb] + 1));
      }
      ent += o.sigma * ej;
      cross += o.sigma * cj;
    }
    obj_kmeans.push_back(km + ent + cross);
  }
  void recompute_eo_all() {
    std::fill(e.begin(), e.end(), 0.0);
    std::fill(obs.begin(), obs.end(), 0.0);
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) {
        s += r[j * n + i];
        obs[j * b + batch[i]] += r[j * n + i];
      }
      for (int64_t bb = 0; bb < b; ++bb) e[j * b + bb] = s * pr_b[bb];
    }
  }
  void update_r() {
    scale.resize(dist.size());
    for (int64_t i = 0; i < n; ++i) {
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < k; ++j) mx = std::max(mx, -dist[j * n + i] / o.sigma);
      for (int64_t j = 0; j < k; ++j) scale[j * n + i] = std::exp(-dist[j * n + i] / o.sigma - mx);
    }
    const std::vector<int64_t> order = keyed_permutation(n, o.seed, shuffles++);
    const int64_t n_blocks = static_cast<int64_t>(std::ceil(1.0 / o.block_size));
    // numpy.array_split: the first n % n_blocks parts get one extra cell
    const int64_t base = n / n_blocks, extra = n % n_blocks;
    int64_t pos = 0;
    std::vector<double> factor(static_cast<size_t>(k * b));
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
      const int64_t len = base + (blk < extra ? 1 : 0);
      if (len == 0) continue;
      const int64_t* cells = order.data() + pos;
      pos += len;
      for (int64_t j = 0; j < k; ++j) {
        double s = 0;
        for (int64_t q = 0; q < len; ++q) {
          s += r[j * n + cells[q]];
          obs[j * b + batch[cells[q]]] -= r[j * n + cells[q]];
        }
        for (int64_t bb = 0; bb < b; ++bb) e[j * b + bb] -= s * pr_b[bb];
      }
      for (int64_t j = 0; j < k * b; ++j) factor[j] = std::pow((e[j] + 1) / (obs[j] + 1), o.theta);
      for (int64_t q = 0; q < len; ++q) {
        const int64_t i = cells[q];
        double s = 0;
        for (int64_t j = 0; j < k; ++j) {
          const double v = scale[j * n + i] * factor[j * b + batch[i]];
          r[j * n + i] = v;
          s += std::fabs(v);
        }
        for (int64_t j = 0; j < k; ++j) r[j * n + i] /= s;
      }
      for (int64_t j = 0; j < k; ++j) {
        double s = 0;
        for (int64_t q = 0; q < len; ++q) {
          s += r[j * n + cells[q]];
          obs[j * b + batch[cells[q]]] += r[j * n + cells[q]];
        }
        for (int64_t bb = 0; bb < b; ++bb) e[j * b + bb] += s * pr_b[bb];
      }
    }
  }
  bool kmeans_converged() const {
    const size_t okl = obj_kmeans.size();
    double old_v = 0, new_v = 0;
    for (size_t i = 0; i < 3; ++i) {
      old_v += obj_kmeans[okl - 2 - i];
      new_v += obj_kmeans[okl - 1 - i];
    }
    return std::fabs(old_v - new_v) / std::fabs(old_v) < o.epsilon_cluster;
  }
  int cluster() {
    compute_dist();
    int it = 0;
    for (it = 0; it < o.max_iter_kmeans; ++it) {
      // Y = normalised (R Z_cos): k x d
      eval::gemm_abt(k, d, n, 1.0, r.data(), z_cos_t.data(), 0.0, y.data());
      normalize_rows(y, k, d);
      compute_dist();
      update_r();
      compute_objective();
      if (it > 3 && kmeans_converged()) break;
    }
    obj_harmony.push_back(obj_kmeans.back());
    return std::min(it, o.max_iter_kmeans - 1);
  }
  void correct() {
    const int64_t m = b + 1;
    z_corr = z_orig;
    std::vector<double> x(static_cast<size_t>(m * m)), rhs(static_cast<size_t>(m * d)), w(static_cast<size_t>(m * d));
    for (int64_t j = 0; j < k; ++j) {
      std::fill(x.begin(), x.end(), 0.0);
      std::fill(rhs.begin(), rhs.end(), 0.0);
      for (int64_t i = 0; i < n; ++i) {
        const double rv = r[j * n + i];
        const int64_t bb = batch[i] + 1;
        x[0] += rv;
        x[bb] += rv;
        x[bb * m] += rv;
        x[bb * m + bb] += rv;
        const double* zi = z_orig.data() + i * d;
        for (int64_t t = 0; t < d; ++t) {
          rhs[t] += rv * zi[t];
          rhs[bb * d + t] += rv * zi[t];
        }
      }
      for (int64_t bb = 1; bb < m; ++bb) x[bb * m + bb] += o.lambda;
      const std::vector<double> inv = inverse(x, m);
      std::fill(w.begin(), w.end(), 0.0);
      for (int64_t a = 1; a < m; ++a)  // row 0 (the intercept) is not removed
        for (int64_t c = 0; c < m; ++c) {
          const double f = inv[a * m + c];
          if (f == 0) continue;
          for (int64_t t = 0; t < d; ++t) w[a * d + t] += f * rhs[c * d + t];
        }
      for (int64_t i = 0; i < n; ++i) {
        const double rv = r[j * n + i];
        const double* wb = w.data() + (batch[i] + 1) * d;
        double* zc = z_corr.data() + i * d;
        for (int64_t t = 0; t < d; ++t) zc[t] -= rv * wb[t];
      }
    }
    z_cos = z_corr;
    normalize_rows(z_cos, n, d);
    transpose_cos();
  }
};

}  // namespace

HarmonyResult harmony(const float* z, int64_t n, int64_t d, const std::vector<int32_t>& batch,
                      const HarmonyOptions& o) {
  if (n < 2 || d < 1) throw Error("harmony: needs at least 2 cells and 1 dimension");
  if (static_cast<int64_t>(batch.size()) != n)
    throw Error("harmony: " + std::to_string(batch.size()) + " batch codes for " + std::to_string(n) + " cells");
  if (!(o.sigma > 0) || !(o.block_size > 0) || o.block_size > 1 || o.lambda < 0 || o.max_iter_kmeans < 1)
    throw Error("harmony: sigma and block_size must be in (0, 1], lambda >= 0, max_iter_kmeans >= 1");
  int32_t nb = 0;
  for (int32_t c : batch) {
    if (c < 0) throw Error("harmony: a cell without a batch");
    nb = std::max(nb, c + 1);
  }
  int64_t k = o.n_clusters > 0 ? o.n_clusters
                               : std::min<int64_t>(100, static_cast<int64_t>(std::nearbyint(static_cast<double>(n) / 30.0)));
  k = std::max<int64_t>(1, std::min(k, n));
  State s{n, d, k, nb, o, batch, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  s.z_orig.resize(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(z[i])) throw Error("harmony: non-finite value at cell " + std::to_string(i / d));
    s.z_orig[i] = z[i];
  }
  s.z_corr = s.z_orig;
  // Z_cos: each cell divided by its largest coordinate, then to unit length (harmonypy)
  s.z_cos = s.z_orig;
  for (int64_t i = 0; i < n; ++i) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < d; ++t) mx = std::max(mx, s.z_cos[i * d + t]);
    for (int64_t t = 0; t < d; ++t) s.z_cos[i * d + t] /= mx;
  }
  normalize_rows(s.z_cos, n, d);
  s.transpose_cos();
  s.pr_b.assign(static_cast<size_t>(nb), 0.0);
  for (int32_t c : batch) s.pr_b[c] += 1.0 / static_cast<double>(n);
  // initial centroids
  if (!o.initial_centroids.empty()) {
    if (static_cast<int64_t>(o.initial_centroids.size()) != k * d)
      throw Error("harmony: " + std::to_string(o.initial_centroids.size()) + " initial centroid values for " +
                  std::to_string(k) + " clusters x " + std::to_string(d) + " dimensions");
    s.y = o.initial_centroids;
  } else {
    s.y = kmeans(s.z_cos, n, d, k, o.seed);
  }
  normalize_rows(s.y, k, d);
  s.compute_dist();
  s.r.resize(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < n; ++i) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < k; ++j) mx = std::max(mx, -s.dist[j * n + i] / o.sigma);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double v = std::exp(-s.dist[j * n + i] / o.sigma - mx);
      s.r[j * n + i] = v;
      sum += v;
    }
    for (int64_t j = 0; j < k; ++j) s.r[j * n + i] /= sum;
  }
  s.e.assign(static_cast<size_t>(k * nb), 0.0);
  s.obs.assign(static_cast<size_t>(k * nb), 0.0);
  s.recompute_eo_all();
  s.compute_objective();
  s.obj_harmony.push_back(s.obj_kmeans.back());

  HarmonyResult out;
  out.n = n;
  out.d = d;
  out.n_clusters = k;
  for (int round = 1; round <= o.max_iter_harmony; ++round) {
    out.kmeans_rounds.push_back(s.cluster());
    s.correct();
    out.rounds = round;
    const double old_v = s.obj_harmony[s.obj_harmony.size() - 2], new_v = s.obj_harmony.back();
    if ((old_v - new_v) / std::fabs(old_v) < o.epsilon_harmony) {
      out.converged = true;
      break;
    }
  }
  out.objective = s.obj_harmony;
  out.corrected.resize(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n * d; ++i) out.corrected[i] = static_cast<float>(s.z_corr[i]);
  return out;
}

}  // namespace scfm::pp
