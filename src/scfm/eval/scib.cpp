#include "scfm/eval/scib.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "scfm/eval/cluster_metrics.h"
#include "scfm/eval/leiden.h"
#include "scfm/eval/linalg.h"
#include "scfm/eval/lisi.h"
#include "scfm/eval/silhouette.h"
#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  int c = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += x;
      ++c;
    }
  return c ? s / c : kNaN;
}

int32_t n_codes(const std::vector<int32_t>& codes, const char* what) {
  int32_t m = -1;
  for (int32_t c : codes) {
    if (c < 0) throw Error(std::string("scib metrics: a missing ") + what + " code; every cell needs one");
    m = std::max(m, c);
  }
  return m + 1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const std::vector<std::string>& scib_metric_names() {
  static const std::vector<std::string> names{
      "NMI_cluster/label", "ARI_cluster/label", "ASW_label",  "isolated_label_F1", "isolated_label_silhouette",
      "cLISI",             "ASW_label/batch",   "PCR_batch",  "graph_conn",        "iLISI",
      "avg_bio",           "avg_batch",         "overall",    "scgpt_avg_bio",     "scgpt_avg_batch"};
  return names;
}

double pc_regression(const EmbeddingView& x, const std::vector<int32_t>& batch, int64_t n_comps) {
  if (static_cast<int64_t>(batch.size()) != x.n) throw Error("pc_regression: one batch code per cell expected");
  const int32_t nb = n_codes(batch, "batch");
  const Pca p = pca(x.x, x.n, x.d, n_comps);
  // R2 of a one-hot regression with intercept = between-group / total sum of squares (one-way
  // ANOVA), per component; weighted by the component's variance share
  std::vector<double> count(static_cast<size_t>(nb), 0);
  for (int32_t b : batch) ++count[b];
  double r2var = 0, var_sum = 0;
  for (double v : p.variance) var_sum += v;
  if (var_sum <= 0) return 0;
  std::vector<double> sums(static_cast<size_t>(nb));
  for (int64_t c = 0; c < p.n_comps; ++c) {
    std::fill(sums.begin(), sums.end(), 0.0);
    double total = 0, ss = 0;
    for (int64_t i = 0; i < p.n; ++i) {
      const double v = p.scores[i * p.n_comps + c];
      sums[batch[i]] += v;
      total += v;
      ss += v * v;
    }
    const double mean = total / static_cast<double>(p.n);
    const double ss_total = ss - static_cast<double>(p.n) * mean * mean;
    double between = 0;
    for (int32_t b = 0; b < nb; ++b)
      if (count[b] > 0) {
        const double m = sums[b] / count[b] - mean;
        between += count[b] * m * m;
      }
    const double r2 = ss_total > 0 ? std::max(0.0, between / ss_total) : 0.0;
    r2var += r2 * p.variance[c] / var_sum;
  }
  return r2var;
}

ScibResult scib_metrics(const EmbeddingView& x, const std::vector<int32_t>& labels,
                        const std::vector<std::string>& label_names, const std::vector<int32_t>& batches,
                        const std::vector<std::string>& batch_names, double pcr_before, const ScibOptions& o) {
  const int64_t n = x.n;
  if (static_cast<int64_t>(labels.size()) != n || static_cast<int64_t>(batches.size()) != n)
    throw Error("scib metrics: " + std::to_string(n) + " cells but " + std::to_string(labels.size()) + " labels and " +
                std::to_string(batches.size()) + " batch codes");
  const int32_t nl = std::max<int32_t>(n_codes(labels, "label"), static_cast<int32_t>(label_names.size()));
  const int32_t nb = std::max<int32_t>(n_codes(batches, "batch"), static_cast<int32_t>(batch_names.size()));
  std::set<int32_t> present_l(labels.begin(), labels.end()), present_b(batches.begin(), batches.end());
  if (present_b.size() < 2)
    throw Error("scib metrics: only one batch (" + (batch_names.empty() ? std::string("?") : batch_names[*present_b.begin()]) +
                "); batch metrics need at least two");
  if (present_l.size() < 2) throw Error("scib metrics: only one label; bio-conservation metrics need at least two");
  auto name_l = [&](int32_t c) { return c < static_cast<int32_t>(label_names.size()) ? label_names[c] : std::to_string(c); };

  ScibResult r;
  nlohmann::json& m = r.metrics;
  nlohmann::json& det = r.details;
  auto t0 = std::chrono::steady_clock::now();

  // the graph, and the clusterings every cluster metric shares
  // one pass of distances, in the label order the silhouette needs, feeds the kNN graph and the
  // label silhouette (ASW_label and the isolated labels' ASW share it)
  SilhouetteCollector sil_collect(labels, {}, n);
  KnnCollector knn_collect(x, o.n_neighbors, sil_collect.source_rows());
  for_each_distance_row(centre_rows(x.x, x.d, sil_collect.source_rows()), int64_t{1} << 25, [&](int64_t p, float* d2) {
    knn_collect.row(p, d2);
    sil_collect.row(p, d2);
  });
  const KnnGraph knn = knn_collect.take();
  const std::vector<double> sil_label = sil_collect.take();
  const SparseGraph graph = umap_connectivities(knn);
  det["seconds_neighbors_and_label_silhouette"] = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  std::vector<double> res = o.resolutions;
  if (res.empty())
    for (int i = 1; i <= 10; ++i) res.push_back(2.0 * i / 10);
  std::vector<LeidenResult> clusterings;
  clusterings.reserve(res.size());
  for (double rr : res) clusterings.push_back(leiden(graph, rr, o.leiden_seed));
  det["seconds_leiden"] = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();

  // NMI / ARI at the best-NMI resolution (scib: strict improvement over 0, the first wins ties)
  double best_nmi = 0;
  size_t best = 0;
  nlohmann::json sweep = nlohmann::json::array();
  for (size_t i = 0; i < res.size(); ++i) {
    const double v = nmi(labels, clusterings[i].membership);
    sweep.push_back({{"resolution", res[i]}, {"nmi", v}, {"n_clusters", clusterings[i].n_clusters},
                     {"modularity", clusterings[i].modularity}});
    if (best_nmi < v) {
      best_nmi = v;
      best = i;
    }
  }
  r.clusters = clusterings[best].membership;
  m["NMI_cluster/label"] = best_nmi;
  m["ARI_cluster/label"] = ari(labels, r.clusters);
  det["leiden_sweep"] = sweep;
  det["best_resolution"] = res[best];

  m["ASW_label"] = (mean_of(sil_label) + 1) / 2;

  // isolated labels: present in the fewest batches, unless that is every batch
  std::vector<std::set<int32_t>> batches_of(static_cast<size_t>(nl));
  for (int64_t i = 0; i < n; ++i) batches_of[labels[i]].insert(batches[i]);
  size_t threshold = std::numeric_limits<size_t>::max();
  for (int32_t l : present_l) threshold = std::min(threshold, batches_of[l].size());
  std::vector<int32_t> isolated;
  if (threshold < present_b.size())
    for (int32_t l : present_l)
      if (batches_of[l].size() <= threshold) isolated.push_back(l);
  std::vector<double> iso_f1, iso_asw;
  nlohmann::json iso = nlohmann::json::array();
  for (int32_t l : isolated) {
    double f1 = 0;
    for (const LeidenResult& cl : clusterings)
      for (int32_t c = 0; c < cl.n_clusters; ++c) f1 = std::max(f1, binary_f1(labels, l, cl.membership, c));
    double s = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; ++i)
      if (labels[i] == l) {
        s += sil_label[i];
        ++cnt;
      }
    const double asw = (s / static_cast<double>(cnt) + 1) / 2;
    iso_f1.push_back(f1);
    iso_asw.push_back(asw);
    iso.push_back({{"label", name_l(l)}, {"batches", batches_of[l].size()}, {"f1", f1}, {"asw", asw}});
  }
  m["isolated_label_F1"] = number(iso_f1.empty() ? kNaN : mean_of(iso_f1));
  m["isolated_label_silhouette"] = number(iso_asw.empty() ? kNaN : mean_of(iso_asw));
  det["isolated_labels"] = iso;

  // ASW batch per label
  std::vector<double> per_label;
  nlohmann::json asw_b = nlohmann::json::object();
  for (int32_t l : present_l) {
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n; ++i)
      if (labels[i] == l) rows.push_back(i);
    if (batches_of[l].size() == 1 || static_cast<int64_t>(batches_of[l].size()) == static_cast<int64_t>(rows.size())) continue;
    std::vector<int32_t> b(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) b[i] = batches[rows[i]];
    const std::vector<double> s = silhouette_samples(x, b, rows);
    double acc = 0;
    for (double v : s) acc += 1 - std::fabs(v);
    per_label.push_back(acc / static_cast<double>(s.size()));
    asw_b[name_l(l)] = per_label.back();
  }
  m["ASW_label/batch"] = number(per_label.empty() ? kNaN : mean_of(per_label));
  det["asw_batch_per_label"] = asw_b;
  det["seconds_batch_silhouette"] = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();

  // PCR
  if (pcr_before >= 0) {
    const double after = pc_regression(x, batches, o.pcr_comps);
    double score = pcr_before > 0 ? (pcr_before - after) / pcr_before : 0.0;
    if (score < 0) score = 0;
    m["PCR_batch"] = score;
    det["pcr_before"] = pcr_before;
    det["pcr_after"] = after;
  } else {
    m["PCR_batch"] = nullptr;
  }

  // graph connectivity
  std::vector<double> gc;
  for (int32_t l : present_l) {
    std::vector<char> keep(static_cast<size_t>(n), 0);
    int64_t size = 0;
    for (int64_t i = 0; i < n; ++i)
      if (labels[i] == l) {
        keep[i] = 1;
        ++size;
      }
    const std::vector<int64_t> comp = connected_components(graph, keep);
    std::map<int64_t, int64_t> counts;
    for (int64_t i = 0; i < n; ++i)
      if (keep[i]) ++counts[comp[i]];
    int64_t largest = 0;
    for (const auto& [c, v] : counts) largest = std::max(largest, v);
    gc.push_back(static_cast<double>(largest) / static_cast<double>(size));
  }
  m["graph_conn"] = mean_of(gc);

  // LISI on one set of shortest-path neighbours
  const GraphPaths paths = shortest_path_neighbors(graph, o.lisi_k0);
  const double ilisi = median(graph_lisi(paths, batches, nb));
  const double clisi = median(graph_lisi(paths, labels, nl));
  const double nbp = static_cast<double>(present_b.size()), nlp = static_cast<double>(present_l.size());
  m["iLISI"] = number((ilisi - 1) / (nbp - 1));
  m["cLISI"] = number((nlp - clisi) / (nlp - 1));
  det["ilisi_median"] = number(ilisi);
  det["clisi_median"] = number(clisi);
  det["seconds_pcr_graph_lisi"] = seconds_since(t0);

  auto val = [&](const char* k) { return m[k].is_null() ? kNaN : m[k].get<double>(); };
  const double bio = mean_of({val("NMI_cluster/label"), val("ARI_cluster/label"), val("ASW_label"),
                              val("isolated_label_F1"), val("isolated_label_silhouette"), val("cLISI")});
  const double batch = mean_of({val("ASW_label/batch"), val("PCR_batch"), val("graph_conn"), val("iLISI")});
  m["avg_bio"] = number(bio);
  m["avg_batch"] = number(batch);
  m["overall"] = number(0.6 * bio + 0.4 * batch);
  m["scgpt_avg_bio"] = number(mean_of({val("NMI_cluster/label"), val("ARI_cluster/label"), val("ASW_label")}));
  m["scgpt_avg_batch"] = number(mean_of({val("ASW_label/batch"), val("graph_conn")}));
  det["n_cells"] = n;
  det["n_labels"] = present_l.size();
  det["n_batches"] = present_b.size();
  return r;
}

}  // namespace scfm::eval
