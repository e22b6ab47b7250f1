#include "scfm/eval/gene_programs.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "scfm/data/random.h"
#include "scfm/eval/leiden.h"
#include "scfm/util/error.h"

namespace scfm::eval {

GenePrograms gene_programs(const EmbeddingView& genes, const GeneProgramOptions& o) {
  const int64_t n = genes.n, d = genes.d;
  if (n < 2) throw Error("gene programs: need at least 2 genes, got " + std::to_string(n));
  if (o.n_neighbors < 2) throw Error("gene programs: --k must be at least 2 (the gene itself and one neighbour)");
  if (o.min_size < 1) throw Error("gene programs: --min-size must be at least 1");
  // cosine: Euclidean distances between unit rows order pairs as 1 - cos does
  std::vector<float> unit(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += double(genes.row(i)[j]) * genes.row(i)[j];
    if (!(s > 0) || !std::isfinite(s))
      throw Error("gene programs: gene row " + std::to_string(i) + " is " + (std::isfinite(s) ? "all zeros" : "not finite") +
                  " and has no direction");
    const double inv = 1 / std::sqrt(s);
    for (int64_t j = 0; j < d; ++j) unit[i * d + j] = static_cast<float>(genes.row(i)[j] * inv);
  }
  const KnnGraph knn = exact_knn({unit.data(), n, d}, std::min(o.n_neighbors, n));
  const LeidenResult lr = leiden(umap_connectivities(knn), o.resolution, o.seed);

  GenePrograms out;
  out.community = lr.membership;
  out.n_communities = lr.n_clusters;
  out.modularity = lr.modularity;
  std::vector<std::vector<int64_t>> members(static_cast<size_t>(lr.n_clusters));
  for (int64_t i = 0; i < n; ++i) members[lr.membership[i]].push_back(i);  // ascending
  std::vector<size_t> order;
  for (size_t c = 0; c < members.size(); ++c)
    if (static_cast<int64_t>(members[c].size()) >= o.min_size) order.push_back(c);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (members[a].size() != members[b].size()) return members[a].size() > members[b].size();
    return members[a][0] < members[b][0];
  });
  out.program_of.assign(static_cast<size_t>(n), -1);
  for (size_t p = 0; p < order.size(); ++p) {
    for (int64_t g : members[order[p]]) out.program_of[g] = static_cast<int32_t>(p);
    out.programs.push_back(std::move(members[order[p]]));
  }
  return out;
}

std::vector<float> expression_profiles(const io::CsrMatrix& x, const std::vector<int32_t>& columns,
                                       std::vector<int32_t>* constant) {
  const int64_t n = x.n_rows, g = static_cast<int64_t>(columns.size());
  std::vector<int64_t> slot(static_cast<size_t>(x.n_cols), -1);
  for (int64_t k = 0; k < g; ++k) {
    if (columns[k] < 0 || columns[k] >= x.n_cols)
      throw Error("expression profiles: column " + std::to_string(columns[k]) + " is outside 0.." + std::to_string(x.n_cols - 1));
    slot[columns[k]] = k;
  }
  std::vector<double> dense(static_cast<size_t>(g * n), 0.0);  // gene-major
  for (int64_t r = 0; r < n; ++r)
    for (int64_t e = x.indptr[r]; e < x.indptr[r + 1]; ++e)
      if (slot[x.indices[e]] >= 0) dense[slot[x.indices[e]] * n + r] = x.data[e];
  std::vector<float> out(static_cast<size_t>(g * n), 0.f);
  if (constant != nullptr) constant->clear();
  for (int64_t k = 0; k < g; ++k) {
    double* v = dense.data() + k * n;
    const double mean = n > 0 ? std::accumulate(v, v + n, 0.0) / n : 0.0;
    double ss = 0;
    for (int64_t r = 0; r < n; ++r) ss += (v[r] - mean) * (v[r] - mean);
    if (!(ss > 0)) {
      if (constant != nullptr) constant->push_back(columns[k]);
      continue;
    }
    const double inv = 1 / std::sqrt(ss);
    for (int64_t r = 0; r < n; ++r) out[k * n + r] = static_cast<float>((v[r] - mean) * inv);
  }
  return out;
}

std::vector<double> score_genes(const io::CsrMatrix& x, const std::vector<std::vector<int32_t>>& sets,
                                const ScoreGenesOptions& o, std::vector<std::vector<int32_t>>* control) {
  const int64_t n = x.n_rows, g = x.n_cols;
  if (o.n_bins < 2) throw Error("score_genes: n_bins must be at least 2");
  // mean of every gene over the cells (scanpy's obs_avg), in double
  std::vector<double> avg(static_cast<size_t>(g), 0.0);
  for (int64_t e = 0; e < x.nnz(); ++e) avg[x.indices[e]] += x.data[e];
  for (double& a : avg) a /= std::max<int64_t>(n, 1);
  // pandas rank(method="min") // n_items, n_items = np.round(g / (n_bins - 1)) (half to even)
  const int64_t n_items = static_cast<int64_t>(std::nearbyint(double(g) / double(o.n_bins - 1)));
  if (n_items < 1)
    throw Error("score_genes: " + std::to_string(g) + " genes are too few for " + std::to_string(o.n_bins) + " expression bins");
  std::vector<int32_t> by_mean(static_cast<size_t>(g));
  std::iota(by_mean.begin(), by_mean.end(), 0);
  std::stable_sort(by_mean.begin(), by_mean.end(), [&](int32_t a, int32_t b) { return avg[a] < avg[b]; });
  std::vector<int64_t> cut(static_cast<size_t>(g));
  for (int64_t k = 0; k < g;) {
    int64_t e = k;
    while (e < g && avg[by_mean[e]] == avg[by_mean[k]]) ++e;
    for (int64_t t = k; t < e; ++t) cut[by_mean[t]] = (k + 1) / n_items;  // min rank of the tie group
    k = e;
  }

  std::vector<double> scores(sets.size() * static_cast<size_t>(n), 0.0);
  if (control != nullptr) control->assign(sets.size(), {});
  for (size_t s = 0; s < sets.size(); ++s) {
    const std::vector<int32_t>& set = sets[s];
    if (set.empty()) throw Error("score_genes: gene set " + std::to_string(s) + " is empty");
    std::vector<char> in_set(static_cast<size_t>(g), 0);
    for (int32_t c : set) {
      if (c < 0 || c >= g) throw Error("score_genes: column " + std::to_string(c) + " is outside 0.." + std::to_string(g - 1));
      in_set[c] = 1;
    }
    std::vector<int64_t> cuts;
    for (int32_t c : set) cuts.push_back(cut[c]);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    data::NumpyRandomState rs(o.seed);  // scanpy: np.random.seed(random_state) at each call
    std::vector<char> is_control(static_cast<size_t>(g), 0);
    for (int64_t c : cuts) {
      std::vector<int32_t> r;  // the bin's genes in var order, as obs_cut[obs_cut == cut].index
      for (int32_t j = 0; j < g; ++j)
        if (cut[j] == c) r.push_back(j);
      for (int64_t i = static_cast<int64_t>(r.size()) - 1; i >= 1; --i)  // np.random.shuffle (legacy)
        std::swap(r[i], r[data::random_interval(rs, static_cast<uint32_t>(i))]);
      for (int64_t i = 0; i < std::min<int64_t>(o.ctrl_size, static_cast<int64_t>(r.size())); ++i) is_control[r[i]] = 1;
    }
    std::vector<int32_t> ctrl;
    for (int32_t j = 0; j < g; ++j)
      if (is_control[j] && !in_set[j]) ctrl.push_back(j);
    std::vector<double> weight(static_cast<size_t>(g), 0.0);  // +1/|set| on the set, -1/|ctrl| on the controls
    int64_t n_set = 0;
    for (int32_t j = 0; j < g; ++j) n_set += in_set[j];
    for (int32_t j = 0; j < g; ++j)
      if (in_set[j]) weight[j] = 1.0 / double(n_set);
    for (int32_t j : ctrl) weight[j] = -1.0 / double(ctrl.size());
    double* out = scores.data() + s * n;
    for (int64_t r = 0; r < n; ++r) {
      double v = 0;
      for (int64_t e = x.indptr[r]; e < x.indptr[r + 1]; ++e) v += weight[x.indices[e]] * x.data[e];
      out[r] = ctrl.empty() ? std::nan("") : v;
    }
    if (control != nullptr) (*control)[s] = std::move(ctrl);
  }
  return scores;
}

}  // namespace scfm::eval
