#include "scfm/sim/model.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "scfm/util/error.h"

namespace scfm::sim {

double nb_zero_probability(double mean, double dispersion) {
  if (mean <= 0) return 1.0;
  return std::exp(-std::log1p(dispersion * mean) / dispersion);
}

SimModel fit_model(const io::CsrMatrix& counts, const std::vector<std::string>& labels,
                   std::vector<std::string> genes, const FitOptions& options) {
  if (static_cast<int64_t>(labels.size()) != counts.n_rows)
    throw Error("simulate: " + std::to_string(labels.size()) + " labels for " + std::to_string(counts.n_rows) +
                " cells");
  if (static_cast<int64_t>(genes.size()) != counts.n_cols)
    throw Error("simulate: " + std::to_string(genes.size()) + " gene names for " + std::to_string(counts.n_cols) +
                " genes");
  for (float v : counts.data)
    if (!(v >= 0) || v != std::floor(v))
      throw Error("simulate: the reference holds a value that is not a count (" + std::to_string(v) +
                  "); pass the raw counts (e.g. --layer counts)");
  const int64_t n_genes = counts.n_cols;
  std::map<std::string, std::vector<int64_t>> by_type;
  const std::vector<double> totals = counts.row_sums();
  int64_t n_nonempty = 0;
  for (int64_t i = 0; i < counts.n_rows; ++i) {
    auto& cells = by_type[labels[i]];
    if (totals[i] > 0) {
      cells.push_back(i);
      ++n_nonempty;
    }
  }
  SimModel model;
  model.genes = std::move(genes);
  model.fit = options;
  for (const auto& [name, cells] : by_type) {
    if (cells.empty()) throw Error("simulate: cell type '" + name + "' has no cell with a non-zero total");
    CellTypeModel t;
    t.name = name;
    t.n_reference_cells = static_cast<int64_t>(cells.size());
    t.proportion = static_cast<double>(cells.size()) / static_cast<double>(n_nonempty);
    const double n = static_cast<double>(cells.size());
    double sum_l = 0, sum_l2 = 0, sum_log = 0;
    std::vector<double> libs;
    for (int64_t i : cells) {
      sum_l += totals[i];
      sum_l2 += totals[i] * totals[i];
      sum_log += std::log(totals[i]);
      libs.push_back(totals[i]);
    }
    t.log_library_mean = sum_log / n;
    double ss = 0;
    for (int64_t i : cells) ss += std::pow(std::log(totals[i]) - t.log_library_mean, 2);
    t.log_library_sd = cells.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;

    std::vector<double> sx(n_genes, 0), sx2(n_genes, 0), sxl(n_genes, 0), nnz(n_genes, 0);
    for (int64_t i : cells)
      for (int64_t k = counts.indptr[i]; k < counts.indptr[i + 1]; ++k) {
        const double v = counts.data[k];
        if (v == 0) continue;
        const int32_t g = counts.indices[k];
        sx[g] += v;
        sx2[g] += v * v;
        sxl[g] += v * totals[i];
        nnz[g] += 1;
      }
    // library sizes at up to 256 evenly spaced quantiles, for the expected NB zero fraction
    std::sort(libs.begin(), libs.end());
    std::vector<double> lib_q;
    const size_t n_q = std::min<size_t>(256, libs.size());
    for (size_t q = 0; q < n_q; ++q)
      lib_q.push_back(libs[n_q == 1 ? 0 : (q * (libs.size() - 1)) / (n_q - 1)]);

    t.rel_mean.assign(n_genes, 0);
    t.dispersion.assign(n_genes, options.min_dispersion);
    t.dropout.assign(n_genes, 0);
    for (int64_t g = 0; g < n_genes; ++g) {
      if (sx[g] == 0) continue;
      const double p = sx[g] / sum_l;
      t.rel_mean[g] = p;
      const double resid2 = sx2[g] - 2 * p * sxl[g] + p * p * sum_l2;  // sum (x - mu)^2
      const double den = p * p * sum_l2;                                // sum mu^2
      double phi = (resid2 - p * sum_l) / den;
      if (!(phi >= options.min_dispersion)) phi = options.min_dispersion;
      t.dispersion[g] = std::min(phi, options.max_dispersion);
      if (options.zero_inflation) {
        const double z_obs = 1.0 - nnz[g] / n;
        double z_nb = 0;
        for (double l : lib_q) z_nb += nb_zero_probability(p * l, t.dispersion[g]);
        z_nb /= static_cast<double>(lib_q.size());
        if (z_nb < 1 - 1e-9) t.dropout[g] = std::clamp((z_obs - z_nb) / (1 - z_nb), 0.0, options.max_dropout);
      }
    }
    model.types.push_back(std::move(t));
  }
  return model;
}

}  // namespace scfm::sim
