#include "scfm/eval/perturbation_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "scfm/util/error.h"

namespace scfm::eval {
namespace {

void same_size(const std::vector<double>& x, const std::vector<double>& y, const char* what) {
  if (x.size() != y.size())
    throw Error(std::string(what) + ": " + std::to_string(x.size()) + " and " + std::to_string(y.size()) +
                " values; one per gene expected on both sides");
}

std::vector<double> pick(const std::vector<double>& x, const std::vector<int64_t>& idx) {
  std::vector<double> out;
  out.reserve(idx.size());
  for (int64_t i : idx) out.push_back(x[static_cast<size_t>(i)]);
  return out;
}

std::vector<double> minus(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - y[i];
  return out;
}

// GEARS: an undefined correlation counts as 0
double r_or_zero(const std::vector<double>& x, const std::vector<double>& y) {
  const double r = pearson(x, y);
  return std::isnan(r) ? 0.0 : r;
}

}  // namespace

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  same_size(x, y, "pearson");
  const size_t n = x.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = x[i] - mx, b = y[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  const double r = sxy / std::sqrt(sxx * syy);
  return std::max(-1.0, std::min(1.0, r));  // scipy clips rounding beyond +-1
}

double mean_squared_error(const std::vector<double>& x, const std::vector<double>& y) {
  same_size(x, y, "mse");
  if (x.empty()) throw Error("mse: no values");
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return s / static_cast<double>(x.size());
}

nlohmann::json PerturbationMetrics::to_json(const std::string& s) const {
  return {{"mse" + s, mse},           {"pearson" + s, pearson},
          {"mse_de" + s, mse_de},     {"pearson_de" + s, pearson_de},
          {"pearson_delta" + s, pearson_delta}, {"pearson_delta_de" + s, pearson_delta_de}};
}

PerturbationMetrics perturbation_metrics(const std::vector<double>& pred, const std::vector<double>& truth,
                                         const std::vector<double>& ctrl, const std::vector<int64_t>& de) {
  same_size(pred, truth, "perturbation metrics");
  same_size(pred, ctrl, "perturbation metrics (control)");
  if (de.empty()) throw Error("perturbation metrics: no differentially expressed genes given");
  for (int64_t i : de)
    if (i < 0 || i >= static_cast<int64_t>(pred.size()))
      throw Error("perturbation metrics: DE gene index " + std::to_string(i) + " outside 0.." +
                  std::to_string(pred.size() - 1));
  PerturbationMetrics m;
  m.mse = mean_squared_error(pred, truth);
  m.pearson = r_or_zero(pred, truth);
  const std::vector<double> pd = pick(pred, de), td = pick(truth, de), cd = pick(ctrl, de);
  m.mse_de = mean_squared_error(pd, td);
  m.pearson_de = r_or_zero(pd, td);
  m.pearson_delta = r_or_zero(minus(pred, ctrl), minus(truth, ctrl));
  m.pearson_delta_de = r_or_zero(minus(pd, cd), minus(td, cd));
  return m;
}

std::vector<double> mean_profile(const float* x, int64_t genes, const std::vector<int64_t>& rows) {
  std::vector<double> m(static_cast<size_t>(genes), 0.0);
  if (rows.empty()) throw Error("mean profile: no cells");
  for (int64_t r : rows)
    for (int64_t g = 0; g < genes; ++g) m[g] += x[r * genes + g];
  for (double& v : m) v /= static_cast<double>(rows.size());
  return m;
}

PerturbationMetrics mean_metrics(const std::vector<PerturbationMetrics>& v) {
  PerturbationMetrics m;
  if (v.empty()) return m;
  for (const auto& p : v) {
    m.mse += p.mse;
    m.pearson += p.pearson;
    m.mse_de += p.mse_de;
    m.pearson_de += p.pearson_de;
    m.pearson_delta += p.pearson_delta;
    m.pearson_delta_de += p.pearson_delta_de;
  }
  const double n = static_cast<double>(v.size());
  m.mse /= n;
  m.pearson /= n;
  m.mse_de /= n;
  m.pearson_de /= n;
  m.pearson_delta /= n;
  m.pearson_delta_de /= n;
  return m;
}

}  // namespace scfm::eval
