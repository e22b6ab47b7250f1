#include "scfm/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::eval {

ClassificationMetrics classification_metrics(const std::vector<int32_t>& truth, const std::vector<int32_t>& pred,
                                             const std::vector<std::string>& classes) {
  if (truth.size() != pred.size())
    throw Error("classification metrics: " + std::to_string(truth.size()) + " true labels but " +
                std::to_string(pred.size()) + " predictions");
  const int32_t k = static_cast<int32_t>(classes.size());
  ClassificationMetrics m;
  m.classes = classes;
  m.confusion.assign(k, std::vector<int64_t>(k, 0));
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0) continue;
    if (truth[i] >= k || pred[i] < 0 || pred[i] >= k)
      throw Error("classification metrics: label code out of range at cell " + std::to_string(i) + " (" +
                  std::to_string(truth[i]) + ", " + std::to_string(pred[i]) + "; " + std::to_string(k) + " classes)");
    ++m.confusion[truth[i]][pred[i]];
    ++m.n;
  }
  m.precision.assign(k, 0);
  m.recall.assign(k, 0);
  m.f1.assign(k, 0);
  m.support.assign(k, 0);
  int64_t correct = 0;
  double f1_sum = 0;
  int present = 0;
  for (int32_t c = 0; c < k; ++c) {
    int64_t tp = m.confusion[c][c], row = 0, col = 0;
    for (int32_t j = 0; j < k; ++j) {
      row += m.confusion[c][j];
      col += m.confusion[j][c];
    }
    correct += tp;
    m.support[c] = row;
    m.precision[c] = col > 0 ? static_cast<double>(tp) / col : 0.0;
    m.recall[c] = row > 0 ? static_cast<double>(tp) / row : 0.0;
    const double pr = m.precision[c] + m.recall[c];
    m.f1[c] = pr > 0 ? 2 * m.precision[c] * m.recall[c] / pr : 0.0;
    if (row > 0 || col > 0) {
      f1_sum += m.f1[c];
      ++present;
    }
  }
  m.accuracy = m.n > 0 ? static_cast<double>(correct) / m.n : 0.0;
  m.macro_f1 = present > 0 ? f1_sum / present : 0.0;
  return m;
}

nlohmann::json to_json(const ClassificationMetrics& m) {
  nlohmann::json j;
  j["n"] = m.n;
  j["accuracy"] = m.accuracy;
  j["macro_f1"] = m.macro_f1;
  j["classes"] = m.classes;
  j["confusion"] = m.confusion;
  nlohmann::json per = nlohmann::json::array();
  for (size_t c = 0; c < m.classes.size(); ++c)
    per.push_back({{"class", m.classes[c]},
                   {"precision", m.precision[c]},
                   {"recall", m.recall[c]},
                   {"f1", m.f1[c]},
                   {"support", m.support[c]}});
  j["per_class"] = per;
  return j;
}

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd r;
  if (v.empty()) return r;
  for (double x : v) r.mean += x;
  r.mean /= v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - r.mean) * (x - r.mean);
    r.std = std::sqrt(ss / (v.size() - 1));
  }
  return r;
}

static bool missing_label(const std::string& s) { return s.empty() || s == "nan" || s == "NaN"; }

Encoded encode_labels(const std::vector<std::string>& labels) {
  Encoded e;
  for (const auto& s : labels)
    if (!missing_label(s)) e.classes.push_back(s);
  std::sort(e.classes.begin(), e.classes.end());
  e.classes.erase(std::unique(e.classes.begin(), e.classes.end()), e.classes.end());
  e.codes = encode_with(labels, e.classes);
  return e;
}

std::vector<int32_t> encode_with(const std::vector<std::string>& labels, const std::vector<std::string>& classes) {
  std::map<std::string, int32_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index.emplace(classes[c], static_cast<int32_t>(c));
  std::vector<int32_t> codes(labels.size(), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (missing_label(labels[i])) continue;
    auto it = index.find(labels[i]);
    if (it != index.end()) codes[i] = it->second;
  }
  return codes;
}

Split random_split(int64_t n, double train_ratio, uint64_t seed) {
  if (!(train_ratio > 0 && train_ratio < 1)) throw Error("split: train ratio must be in (0, 1), got " + std::to_string(train_ratio));
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  uint64_t state = util::splitmix64(seed ^ 0x5C0F5EEDULL);
  for (int64_t i = n - 1; i > 0; --i) {
    state = util::splitmix64(state);
    const int64_t j = static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(perm[i], perm[j]);
  }
  const int64_t n_train = std::llround(train_ratio * n);
  Split s;
  s.train.assign(perm.begin(), perm.begin() + n_train);
  s.test.assign(perm.begin() + n_train, perm.end());
  return s;
}

}  // namespace scfm::eval
