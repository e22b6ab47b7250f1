#include "scfm/eval/cluster_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

// The contingency table as counts over (a, b) pairs, with the marginals.
struct Contingency {
  std::map<std::pair<int32_t, int32_t>, int64_t> cells;
  std::map<int32_t, int64_t> rows, cols;
  int64_t n = 0;
};

Contingency contingency(const std::vector<int32_t>& a, const std::vector<int32_t>& b, const char* what) {
  if (a.size() != b.size())
    throw Error(std::string(what) + ": " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                " labels; the two labelings must cover the same cells");
  Contingency c;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0 || b[i] < 0) throw Error(std::string(what) + ": negative label code at cell " + std::to_string(i));
    ++c.cells[{a[i], b[i]}];
    ++c.rows[a[i]];
    ++c.cols[b[i]];
  }
  c.n = static_cast<int64_t>(a.size());
  return c;
}

double entropy(const std::map<int32_t, int64_t>& counts, int64_t n) {
  double h = 0;
  for (const auto& [k, v] : counts) {
    const double p = static_cast<double>(v) / static_cast<double>(n);
    h -= p * std::log(p);
  }
  return h;
}

}  // namespace

double nmi(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const Contingency c = contingency(a, b, "nmi");
  if ((c.rows.size() == 1 && c.cols.size() == 1) || c.n == 0) return 1.0;
  const double n = static_cast<double>(c.n);
  double mi = 0;
  for (const auto& [ab, v] : c.cells) {
    const double nij = static_cast<double>(v);
    mi += nij / n * (std::log(nij * n) - std::log(static_cast<double>(c.rows.at(ab.first)) * c.cols.at(ab.second)));
  }
  mi = std::max(0.0, mi);
  if (mi == 0) return 0.0;
  const double norm = std::max((entropy(c.rows, c.n) + entropy(c.cols, c.n)) / 2, std::numeric_limits<double>::epsilon());
  return mi / norm;
}

double ari(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const Contingency c = contingency(a, b, "ari");
  const double n = static_cast<double>(c.n);
  double sum_sq = 0, rows_sq = 0, cols_sq = 0;
  for (const auto& [ab, v] : c.cells) sum_sq += static_cast<double>(v) * v;
  for (const auto& [k, v] : c.rows) rows_sq += static_cast<double>(v) * v;
  for (const auto& [k, v] : c.cols) cols_sq += static_cast<double>(v) * v;
  const double tp = sum_sq - n;
  const double fp = cols_sq - sum_sq;  // sklearn's C[0, 1]
  const double fn = rows_sq - sum_sq;  // C[1, 0]
  const double tn = n * n - fp - fn - sum_sq;
  if (fn == 0 && fp == 0) return 1.0;
  return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
}

double binary_f1(const std::vector<int32_t>& truth, int32_t t, const std::vector<int32_t>& pred, int32_t p) {
  if (truth.size() != pred.size()) throw Error("f1: labelings of different lengths");
  int64_t tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const bool y = truth[i] == t, q = pred[i] == p;
    tp += y && q;
    fp += !y && q;
    fn += y && !q;
  }
  return tp == 0 ? 0.0 : 2.0 * tp / static_cast<double>(2 * tp + fp + fn);
}

}  // namespace scfm::eval
