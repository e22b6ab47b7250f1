#include "scfm/sim/simulate.h"

#include <algorithm>
#include <iterator>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::sim {

namespace {

uint64_t mix(uint64_t x) { return util::splitmix64(x); }

// What a stream is for; part of its key, so adding draws to one never shifts another.
enum Purpose : uint64_t { kLabels = 1, kGenes = 2, kBatch = 3, kPerturb = 4, kModules = 5 };

// A counter-based stream keyed by (seed, purpose, index): the n-th output is mix(key + n * gamma).
class Stream {
 public:
  using result_type = uint64_t;
  Stream(uint64_t seed, uint64_t purpose, uint64_t index)
      : key_(mix(mix(mix(seed) ^ (purpose * 0xd1b54a32d192ed03ULL)) ^ index)) {}
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return std::numeric_limits<uint64_t>::max(); }
  uint64_t operator()() { return mix(key_ + (++counter_) * 0x9e3779b97f4a7c15ULL); }
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * static_cast<double>(n)) % n; }
  double normal() {  // Box-Muller, one output per two uniforms
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

// One NB(m, phi) count from stream s.
double draw_nb(double m, double phi, Stream& s) {
  if (m < 1) {
    const double u = s.uniform();
    if (u >= m) return 0;  // P(x > 0) <= E[x] = m
    const double r = 1.0 / phi;
    const double p0 = std::exp(-r * std::log1p(phi * m));
    const double pnz = 1.0 - p0;
    if (u >= pnz) return 0;
    // inversion of the zero-truncated NB with v = u / pnz ~ U(0, 1)
    const double v = u / pnz;
    const double p = phi * m / (1 + phi * m);
    double pk = p0 * r * p / pnz, cum = pk;
    int64_t k = 1;
    while (v >= cum && k < 1000000) {
      pk *= (static_cast<double>(k) + r) / static_cast<double>(k + 1) * p;
      cum += pk;
      ++k;
      if (pk < 1e-300) break;
    }
    return static_cast<double>(k);
  }
  const double r = 1.0 / phi;
  std::gamma_distribution<double> gamma(r, phi * m);
  const double lambda = gamma(s);
  if (lambda <= 0) return 0;
  std::poisson_distribution<int64_t> poisson(lambda);
  return static_cast<double>(poisson(s));
}

// Genes by decreasing mean relative expression over the types (stable: ties in gene order); the
// count of genes expressed in some type goes to n_expressed.
std::vector<int32_t> genes_by_mean(const SimModel& model, int64_t* n_expressed) {
  const int64_t n_genes = static_cast<int64_t>(model.genes.size());
  const double n_types = static_cast<double>(model.types.size());
  std::vector<double> avg(n_genes, 0);
  for (const auto& t : model.types)
    for (int64_t g = 0; g < n_genes; ++g) avg[g] += t.rel_mean[g] / n_types;
  std::vector<int32_t> order(n_genes);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return avg[a] > avg[b]; });
  *n_expressed = std::count_if(avg.begin(), avg.end(), [](double v) { return v > 0; });
  return order;
}

}  // namespace

SimDesign make_design(SimModel model, const SimulateOptions& o) {
  if (model.types.empty()) throw Error("simulate: the model has no cell type");
  if (o.n_cells < 1) throw Error("simulate: --cells must be >= 1");
  if (o.n_batches < 1) throw Error("simulate: --batches must be >= 1");
  if (!(o.batch_strength >= 0)) throw Error("simulate: --batch-strength must be >= 0");
  if (o.n_perturb_genes < 0) throw Error("simulate: --perturb-genes must be >= 0");
  if (o.program_size < 0) throw Error("simulate: --program-size must be >= 0");
  if (!(o.min_knockdown > 0 && o.min_knockdown <= o.max_knockdown && o.max_knockdown < 1))
    throw Error("simulate: knock-down factors must satisfy 0 < min <= max < 1");
  if (o.n_modules < 0 || (o.n_modules > 0 && o.module_size < 2))
    throw Error("simulate: --modules must be >= 0 and --module-size >= 2");
  if (!(o.module_strength >= 0)) throw Error("simulate: --module-strength must be >= 0");
  SimDesign d;
  d.options = o;
  const int64_t n_genes = static_cast<int64_t>(model.genes.size());
  const int n_types = static_cast<int>(model.types.size());

  d.batch_log_effect.assign(o.n_batches, std::vector<double>(n_genes, 0.0));
  if (o.batch_strength > 0)
    for (int b = 0; b < o.n_batches; ++b) {
      Stream s(o.seed, kBatch, static_cast<uint64_t>(b));
      for (int64_t g = 0; g < n_genes; ++g) d.batch_log_effect[b][g] = o.batch_strength * s.normal();
    }

  if (o.n_perturb_genes > 0) {
    int64_t n_expressed = 0;
    const std::vector<int32_t> order = genes_by_mean(model, &n_expressed);
    const int64_t target_pool = std::min<int64_t>(500, n_expressed);
    const int64_t program_pool = std::min<int64_t>(2000, n_expressed);
    if (o.n_perturb_genes > target_pool)
      throw Error("simulate: --perturb-genes " + std::to_string(o.n_perturb_genes) + " is more than the " +
                  std::to_string(target_pool) + " candidate targets");
    Stream s(o.seed, kPerturb, 0);
    std::vector<int32_t> pool(order.begin(), order.begin() + target_pool);
    for (int k = 0; k < o.n_perturb_genes; ++k) {  // partial Fisher-Yates
      std::swap(pool[k], pool[k + s.below(pool.size() - k)]);
    }
    std::vector<bool> is_target(n_genes, false);
    for (int k = 0; k < o.n_perturb_genes; ++k) is_target[pool[k]] = true;
    std::vector<int32_t> candidates;
    for (int64_t j = 0; j < program_pool; ++j)
      if (!is_target[order[j]]) candidates.push_back(order[j]);
    for (int k = 0; k < o.n_perturb_genes; ++k) {
      Perturbation p;
      p.target = pool[k];
      p.knockdown = o.min_knockdown + (o.max_knockdown - o.min_knockdown) * s.uniform();
      std::vector<int32_t> c = candidates;
      const int64_t size = std::min<int64_t>(o.program_size, static_cast<int64_t>(c.size()));
      for (int64_t j = 0; j < size; ++j) std::swap(c[j], c[j + s.below(c.size() - j)]);
      c.resize(size);
      std::sort(c.begin(), c.end());
      for (int32_t g : c) {
        const double magnitude = (0.5 + s.uniform()) * o.program_strength;
        p.program_genes.push_back(g);
        p.program_log_fc.push_back(s.uniform() < 0.5 ? -magnitude : magnitude);
      }
      d.perturbations.push_back(std::move(p));
    }
  }
  if (o.n_combos > 0) {
    const int64_t pairs = static_cast<int64_t>(o.n_perturb_genes) * (o.n_perturb_genes - 1) / 2;
    if (o.n_combos > pairs)
      throw Error("simulate: --combos " + std::to_string(o.n_combos) + " needs at least that many pairs of targets (" +
                  std::to_string(o.n_perturb_genes) + " targets give " + std::to_string(pairs) + ")");
    if (!(o.interaction_strength >= 0)) throw Error("simulate: --interaction-strength must be >= 0");
    Stream s(o.seed, kPerturb, 1);
    std::vector<std::pair<int32_t, int32_t>> all;
    for (int a = 0; a < o.n_perturb_genes; ++a)
      for (int b = a + 1; b < o.n_perturb_genes; ++b) all.emplace_back(a, b);
    for (int k = 0; k < o.n_combos; ++k) std::swap(all[k], all[k + s.below(all.size() - k)]);
    for (int k = 0; k < o.n_combos; ++k) {
      Combination c;
      c.first = all[k].first;
      c.second = all[k].second;
      const auto& pa = d.perturbations[c.first].program_genes;
      const auto& pb = d.perturbations[c.second].program_genes;
      std::set_union(pa.begin(), pa.end(), pb.begin(), pb.end(), std::back_inserter(c.genes));
      Stream e(o.seed, kPerturb, 2 + static_cast<uint64_t>(k));
      for (size_t j = 0; j < c.genes.size(); ++j) c.interaction_log_fc.push_back(o.interaction_strength * e.normal());
      d.combinations.push_back(std::move(c));
    }
  }

  if (o.n_modules > 0) {
    int64_t n_expressed = 0;
    const std::vector<int32_t> order = genes_by_mean(model, &n_expressed);
    std::vector<bool> is_target(n_genes, false);
    for (const Perturbation& p : d.perturbations) is_target[p.target] = true;
    std::vector<int32_t> pool;
    for (int64_t j = 0; j < std::min<int64_t>(2000, n_expressed); ++j)
      if (!is_target[order[j]]) pool.push_back(order[j]);
    const int64_t need = static_cast<int64_t>(o.n_modules) * o.module_size;
    if (need > static_cast<int64_t>(pool.size()))
      throw Error("simulate: --modules " + std::to_string(o.n_modules) + " x --module-size " + std::to_string(o.module_size) +
                  " needs " + std::to_string(need) + " genes; " + std::to_string(pool.size()) + " candidates are expressed");
    Stream s(o.seed, kModules, 0);
    for (int64_t k = 0; k < need; ++k) std::swap(pool[k], pool[k + s.below(pool.size() - k)]);  // partial Fisher-Yates
    for (int m = 0; m < o.n_modules; ++m) {
      std::vector<int32_t> genes(pool.begin() + m * o.module_size, pool.begin() + (m + 1) * o.module_size);
      std::sort(genes.begin(), genes.end());
      d.modules.push_back(std::move(genes));
    }
  }

  d.base_mean.assign(static_cast<size_t>(n_types) * o.n_batches, std::vector<double>(n_genes, 0.0));
  for (int t = 0; t < n_types; ++t)
    for (int b = 0; b < o.n_batches; ++b) {
      auto& m = d.base_mean[static_cast<size_t>(t) * o.n_batches + b];
      const auto& ct = model.types[t];
      for (int64_t g = 0; g < n_genes; ++g)
        if (ct.rel_mean[g] > 0) m[g] = ct.rel_mean[g] * std::exp(d.batch_log_effect[b][g]) / (1.0 - ct.dropout[g]);
    }
  double acc = 0;
  for (const auto& t : model.types) d.type_cdf.push_back(acc += t.proportion);
  for (double& c : d.type_cdf) c /= acc;
  d.model = std::move(model);
  return d;
}

CellLabels cell_labels(const SimDesign& d, int64_t cell) {
  Stream s(d.options.seed, kLabels, static_cast<uint64_t>(cell));
  CellLabels l;
  const double u = s.uniform();
  l.type = static_cast<int32_t>(std::upper_bound(d.type_cdf.begin(), d.type_cdf.end(), u) - d.type_cdf.begin());
  if (l.type >= static_cast<int32_t>(d.type_cdf.size())) l.type = static_cast<int32_t>(d.type_cdf.size()) - 1;
  l.batch = static_cast<int32_t>(s.below(static_cast<uint64_t>(d.options.n_batches)));
  const int n_pert = static_cast<int>(d.perturbations.size() + d.combinations.size());
  l.perturbation = n_pert > 0 ? static_cast<int32_t>(s.below(static_cast<uint64_t>(n_pert) + 1)) - 1 : -1;
  const auto& t = d.model.types[l.type];
  l.library = std::exp(t.log_library_mean + t.log_library_sd * s.normal());
  return l;
}

io::CsrMatrix simulate_block(const SimDesign& d, int64_t start, int64_t count, std::vector<CellLabels>* labels) {
  const int64_t n_genes = static_cast<int64_t>(d.model.genes.size());
  io::CsrMatrix m;
  m.n_rows = count;
  m.n_cols = n_genes;
  m.indptr.reserve(count + 1);
  if (labels) labels->resize(count);
  std::vector<double> factor(n_genes, 1.0);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t cell = start + r;
    const CellLabels l = cell_labels(d, cell);
    if (labels) (*labels)[r] = l;
    const auto& t = d.model.types[l.type];
    const auto& base = d.base_mean[static_cast<size_t>(l.type) * d.options.n_batches + l.batch];
    const int32_t n_single = static_cast<int32_t>(d.perturbations.size());
    const Combination* combo = l.perturbation >= n_single ? &d.combinations[l.perturbation - n_single] : nullptr;
    std::vector<const Perturbation*> parts;
    if (combo) {
      parts = {&d.perturbations[combo->first], &d.perturbations[combo->second]};
    } else if (l.perturbation >= 0) {
      parts = {&d.perturbations[l.perturbation]};
    }
    for (const Perturbation* p : parts) {  // factors multiply where the two programs overlap
      factor[p->target] *= p->knockdown;
      for (size_t j = 0; j < p->program_genes.size(); ++j) factor[p->program_genes[j]] *= std::exp(p->program_log_fc[j]);
    }
    if (combo)
      for (size_t j = 0; j < combo->genes.size(); ++j) factor[combo->genes[j]] *= std::exp(combo->interaction_log_fc[j]);
    if (!d.modules.empty()) {  // after the perturbation factors, which it multiplies
      Stream ms(d.options.seed, kModules, 1 + static_cast<uint64_t>(cell));
      const double sd = d.options.module_strength;
      for (const auto& genes : d.modules) {
        const double f = std::exp(sd * ms.normal() - 0.5 * sd * sd);
        for (int32_t g : genes) factor[g] *= f;
      }
    }
    Stream s(d.options.seed, kGenes, static_cast<uint64_t>(cell));
    const double lib = l.library;
    for (int64_t g = 0; g < n_genes; ++g) {
      if (base[g] == 0) continue;
      const double mean = base[g] * lib * factor[g];
      double x = draw_nb(mean, t.dispersion[g], s);
      if (x > 0 && t.dropout[g] > 0 && s.uniform() < t.dropout[g]) x = 0;
      if (x > 0) {
        m.indices.push_back(static_cast<int32_t>(g));
        m.data.push_back(static_cast<float>(x));
      }
    }
    for (const Perturbation* p : parts) {
      factor[p->target] = 1.0;
      for (int32_t g : p->program_genes) factor[g] = 1.0;
    }
    for (const auto& genes : d.modules)
      for (int32_t g : genes) factor[g] = 1.0;
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  return m;
}

std::string perturbation_name(const SimDesign& d, int32_t perturbation) {
  if (perturbation < 0) return "control";
  const int32_t n_single = static_cast<int32_t>(d.perturbations.size());
  if (perturbation < n_single) return d.model.genes.at(d.perturbations.at(perturbation).target);
  const Combination& c = d.combinations.at(perturbation - n_single);
  return d.model.genes.at(d.perturbations.at(c.first).target) + "+" + d.model.genes.at(d.perturbations.at(c.second).target);
}

std::string condition_name(const SimDesign& d, int32_t perturbation) {
  if (perturbation < 0) return "ctrl";
  if (perturbation < static_cast<int32_t>(d.perturbations.size())) return perturbation_name(d, perturbation) + "+ctrl";
  return perturbation_name(d, perturbation);
}

}  // namespace scfm::sim
