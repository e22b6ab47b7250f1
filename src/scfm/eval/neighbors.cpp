#include "scfm/eval/neighbors.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "scfm/eval/linalg.h"
#include "scfm/util/error.h"

namespace scfm::eval {

namespace {

void check_embedding(const EmbeddingView& x, int64_t k) {
  if (x.n < 1 || x.d < 1) throw Error("neighbors: empty embedding (" + std::to_string(x.n) + " x " + std::to_string(x.d) + ")");
  if (k < 1) throw Error("neighbors: k must be at least 1, got " + std::to_string(k));
  for (int64_t i = 0; i < x.n * x.d; ++i)
    if (!std::isfinite(x.x[i]))
      throw Error("neighbors: the embedding holds a non-finite value at row " + std::to_string(i / x.d) + ", column " +
                  std::to_string(i % x.d));
}

}  // namespace

KnnCollector::KnnCollector(const EmbeddingView& x, int64_t k, std::vector<int64_t> order) : x_(x), order_(std::move(order)) {
  check_embedding(x, k);
  k = std::min(k, x.n);
  if (order_.empty()) {
    order_.resize(static_cast<size_t>(x.n));
    std::iota(order_.begin(), order_.end(), 0);
  }
  // a margin of 16 candidates beyond k absorbs the float rounding of |q|^2 - 2 q.t + |t|^2
  m_ = std::min<int64_t>(x.n, k + 16);
  graph_.n = x.n;
  graph_.k = k;
  graph_.index.assign(static_cast<size_t>(x.n * k), 0);
  graph_.distance.assign(static_cast<size_t>(x.n * k), 0.0);
}

void KnnCollector::row(int64_t position, const float* d2) {
  const int64_t n = x_.n, d = x_.d, k = graph_.k, qi = order_[position];
  // top-m smallest float distances by a bounded max-heap of (distance, position)
  std::vector<std::pair<float, int64_t>> heap;
  heap.reserve(static_cast<size_t>(m_));
  auto offer = [&](int64_t j) {
    const float s = d2[j];
    if (static_cast<int64_t>(heap.size()) < m_) {
      heap.emplace_back(s, j);
      std::push_heap(heap.begin(), heap.end());
    } else if (s < heap.front().first) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = {s, j};
      std::push_heap(heap.begin(), heap.end());
    }
  };
  int64_t j = 0;
  for (; j < n && static_cast<int64_t>(heap.size()) < m_; ++j) offer(j);
  // once the heap is full, most blocks of 16 hold nothing below its top: one vectorised test each
  // (the same candidates are kept, in the same order, as offering every distance)
  constexpr int64_t kBlock = 16;
  for (; j + kBlock <= n; j += kBlock) {
    const float top = heap.front().first;
    int below = 0;
    for (int64_t t = 0; t < kBlock; ++t) below |= d2[j + t] < top;
    if (below)
      for (int64_t t = 0; t < kBlock; ++t) offer(j + t);
  }
  for (; j < n; ++j) offer(j);
  std::vector<std::pair<double, int64_t>> cand;
  cand.reserve(heap.size());
  const float* q = x_.row(qi);
  for (const auto& h : heap) {
    const int64_t j = order_[h.second];
    if (j == qi) continue;
    const float* t = x_.row(j);
    double s = 0;
    for (int64_t c = 0; c < d; ++c) {
      const double diff = static_cast<double>(q[c]) - static_cast<double>(t[c]);
      s += diff * diff;
    }
    cand.emplace_back(std::sqrt(s), j);
  }
  std::sort(cand.begin(), cand.end());  // distance, then row
  graph_.index[qi * k] = qi;
  graph_.distance[qi * k] = 0.0;
  // the cell itself takes one of the m candidates (or none, when it lost its place to exact ties)
  for (int64_t c = 1; c < k; ++c) {
    graph_.index[qi * k + c] = cand[c - 1].second;
    graph_.distance[qi * k + c] = cand[c - 1].first;
  }
}

KnnGraph exact_knn(const EmbeddingView& x, int64_t k) {
  KnnCollector collect(x, k);
  std::vector<int64_t> all(static_cast<size_t>(x.n));
  std::iota(all.begin(), all.end(), 0);
  // centred for the float ranking (distances do not change; cancellation does)
  for_each_distance_row(centre_rows(x.x, x.d, all), int64_t{1} << 25, [&](int64_t i, float* d2) { collect.row(i, d2); });
  return collect.take();
}

SparseGraph umap_connectivities(const KnnGraph& knn) {
  const int64_t n = knn.n, k = knn.k;
  constexpr int kIterations = 64;
  constexpr double kTolerance = 1e-5, kMinScale = 1e-3;
  const double target = std::log2(static_cast<double>(k));
  double mean_all = 0;
  for (double v : knn.distance) mean_all += v;
  mean_all /= static_cast<double>(std::max<size_t>(1, knn.distance.size()));
  std::vector<double> rho(static_cast<size_t>(n), 0.0), sigma(static_cast<size_t>(n), 1.0);
  for (int64_t i = 0; i < n; ++i) {
    const double* di = knn.distance.data() + i * k;
    double r = 0;
    for (int64_t j = 0; j < k; ++j)
      if (di[j] > 0) {
        r = di[j];
        break;
      }
    rho[i] = r;
    double lo = 0, hi = std::numeric_limits<double>::infinity(), mid = 1.0;
    for (int it = 0; it < kIterations; ++it) {
      double psum = 0;
      for (int64_t j = 1; j < k; ++j) {
        const double dd = di[j] - r;
        psum += dd > 0 ? std::exp(-(dd / mid)) : 1.0;
      }
      if (std::fabs(psum - target) < kTolerance) break;
      if (psum > target) {
        hi = mid;
        mid = (lo + hi) / 2.0;
      } else {
        lo = mid;
        mid = std::isinf(hi) ? mid * 2 : (lo + hi) / 2.0;
      }
    }
    double mean_i = 0;
    for (int64_t j = 0; j < k; ++j) mean_i += di[j];
    mean_i /= static_cast<double>(k);
    const double floor = kMinScale * (r > 0 ? mean_i : mean_all);
    sigma[i] = std::max(mid, floor);
  }
  // directed memberships as (row, col, w) triples, then W + W^T - W o W^T
  std::vector<std::vector<std::pair<int64_t, double>>> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t c = knn.index[i * k + j];
      if (c == i) continue;
      const double dd = knn.distance[i * k + j] - rho[i];
      const double w = (dd <= 0 || sigma[i] == 0) ? 1.0 : std::exp(-(dd / sigma[i]));
      rows[i].emplace_back(c, w);
    }
  for (auto& r : rows) std::sort(r.begin(), r.end());
  auto directed = [&](int64_t i, int64_t c) {
    const auto& r = rows[i];
    auto it = std::lower_bound(r.begin(), r.end(), std::make_pair(c, -std::numeric_limits<double>::infinity()));
    return (it != r.end() && it->first == c) ? it->second : 0.0;
  };
  std::vector<std::vector<std::pair<int64_t, double>>> sym(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (const auto& [c, w] : rows[i]) {
      const double wt = directed(c, i);
      const double u = w + wt - w * wt;
      sym[i].emplace_back(c, u);
      if (wt == 0) sym[c].emplace_back(i, u);  // the reverse edge exists only here
    }
  SparseGraph g;
  g.n = n;
  g.indptr.assign(static_cast<size_t>(n + 1), 0);
  for (int64_t i = 0; i < n; ++i) {
    auto& r = sym[i];
    std::sort(r.begin(), r.end());
    g.indptr[i + 1] = g.indptr[i] + static_cast<int64_t>(r.size());
  }
  g.indices.reserve(static_cast<size_t>(g.indptr[n]));
  g.weights.reserve(static_cast<size_t>(g.indptr[n]));
  for (int64_t i = 0; i < n; ++i)
    for (const auto& [c, w] : sym[i]) {
      g.indices.push_back(c);
      g.weights.push_back(w);
    }
  return g;
}

std::vector<int64_t> connected_components(const SparseGraph& g, const std::vector<char>& keep) {
  const int64_t n = g.n;
  std::vector<int64_t> comp(static_cast<size_t>(n), -1);
  std::vector<int64_t> stack;
  int64_t next = 0;
  for (int64_t s = 0; s < n; ++s) {
    if (comp[s] >= 0 || (!keep.empty() && !keep[s])) continue;
    comp[s] = next;
    stack.assign(1, s);
    while (!stack.empty()) {
      const int64_t v = stack.back();
      stack.pop_back();
      for (int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) {
        const int64_t u = g.indices[e];
        if (comp[u] >= 0 || (!keep.empty() && !keep[u])) continue;
        comp[u] = next;
        stack.push_back(u);
      }
    }
    ++next;
  }
  return comp;
}

}  // namespace scfm::eval
