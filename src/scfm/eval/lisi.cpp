#include "scfm/eval/lisi.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <string>
#include <utility>

#include "scfm/util/error.h"

namespace scfm::eval {

GraphPaths shortest_path_neighbors(const SparseGraph& g, int64_t k) {
  if (k < 1) throw Error("lisi: k must be at least 1");
  GraphPaths out;
  out.n = g.n;
  out.k = k;
  out.index.assign(static_cast<size_t>(g.n * k), -1);
  out.length.assign(static_cast<size_t>(g.n * k), std::numeric_limits<double>::quiet_NaN());
#pragma omp parallel
  {
    std::vector<double> dist(static_cast<size_t>(g.n), std::numeric_limits<double>::infinity());
    std::vector<char> done(static_cast<size_t>(g.n), 0);
    std::vector<int64_t> touched;
    using Item = std::pair<double, int64_t>;
#pragma omp for schedule(dynamic, 256)
    for (int64_t s = 0; s < g.n; ++s) {
      std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
      dist[s] = 0;
      touched.assign(1, s);
      heap.emplace(0.0, s);
      int64_t found = 0;
      while (!heap.empty() && found < k) {
        const auto [dv, v] = heap.top();
        heap.pop();
        if (done[v] || dv > dist[v]) continue;
        done[v] = 1;
        if (v != s) {
          out.index[s * k + found] = v;
          out.length[s * k + found] = dv;
          ++found;
        }
        for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
          const int64_t u = g.indices[e];
          const double w = std::max(g.weights[e], 3e-308);  // scib floors tiny connectivities
          const double du = dv + w;
          if (done[u] || du >= dist[u]) continue;
          if (std::isinf(dist[u])) touched.push_back(u);
          dist[u] = du;
          heap.emplace(du, u);
        }
      }
      for (int64_t v : touched) {
        dist[v] = std::numeric_limits<double>::infinity();
        done[v] = 0;
      }
    }
  }
  return out;
}

std::vector<double> graph_lisi(const GraphPaths& p, const std::vector<int32_t>& codes, int32_t n_categories,
                               double perplexity) {
  if (static_cast<int64_t>(codes.size()) != p.n)
    throw Error("lisi: " + std::to_string(codes.size()) + " labels for " + std::to_string(p.n) + " cells");
  if (perplexity <= 0 || perplexity >= static_cast<double>(p.k)) perplexity = std::floor(static_cast<double>(p.k) / 3);
  const double log_u = std::log(perplexity);
  constexpr double kTolerance = 1e-5;
  std::vector<double> out(static_cast<size_t>(p.n), 1.0);
#pragma omp parallel
  {
    std::vector<double> prob(static_cast<size_t>(p.k)), per_cat(static_cast<size_t>(n_categories));
    // entropy H and normalised weights of exp(-D beta) (scib's Hbeta)
    auto hbeta = [&](const double* dist, double beta) {
      double sum = 0, dsum = 0;
      for (int64_t j = 0; j < p.k; ++j) {
        prob[j] = std::exp(-dist[j] * beta);
        sum += prob[j];
      }
      if (sum == 0) {
        std::fill(prob.begin(), prob.end(), 0.0);
        return 0.0;
      }
      for (int64_t j = 0; j < p.k; ++j) dsum += dist[j] * prob[j];
      for (double& v : prob) v /= sum;
      return std::log(sum) + beta * dsum / sum;
    };
#pragma omp for schedule(static)
    for (int64_t i = 0; i < p.n; ++i) {
      if (p.index[i * p.k + p.k - 1] < 0) continue;  // fewer than k reachable: scib's 1
      const double* dist = p.length.data() + i * p.k;
      double beta = 1, lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      double h = hbeta(dist, beta), diff = h - log_u;
      for (int tries = 0; std::fabs(diff) > kTolerance && tries < 50; ++tries) {
        if (diff > 0) {
          lo = beta;
          beta = std::isinf(hi) ? beta * 2 : (beta + hi) / 2;
        } else {
          hi = beta;
          beta = std::isinf(lo) ? beta / 2 : (beta + lo) / 2;
        }
        h = hbeta(dist, beta);
        diff = h - log_u;
      }
      if (h == 0) {
        out[i] = -1;  // scib: simpson -1, so LISI -1
        continue;
      }
      std::fill(per_cat.begin(), per_cat.end(), 0.0);
      for (int64_t j = 0; j < p.k; ++j) per_cat[codes[p.index[i * p.k + j]]] += prob[j];
      double simpson = 0;
      for (double v : per_cat) simpson += v * v;
      out[i] = 1.0 / simpson;
    }
  }
  return out;
}

}  // namespace scfm::eval
