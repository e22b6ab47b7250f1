// The simulator (src/scfm/sim): fitted to pbmc3k (8 labelled types), simulated cells must
// reproduce the reference's per-type means and library sizes; batches, knock-downs and the
// keyed randomness must do what simulate.h promises.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <cmath>
#include <map>
#include <numeric>

#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/sim/model.h"
#include "scfm/sim/simulate.h"
#include "scfm/sim/write.h"
#include "scfm/store/reader.h"
#include "test_util.h"

using namespace scfm;

namespace {

struct Reference {
  io::CsrMatrix counts;
  std::vector<std::string> labels;
  sim::SimModel model;
};

const Reference& reference() {
  static const Reference r = [] {
    Reference r;
    io::AnnData ad = io::read_h5ad(test::real_data("pbmc3k_decoupler.h5ad"));
    r.counts = ad.matrix_csr();
    r.labels = io::column_strings(ad.obs(), "cell_type");
    r.model = sim::fit_model(r.counts, r.labels, ad.var_names());
    return r;
  }();
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Per-group column means of a CSR matrix.
std::vector<std::vector<double>> group_means(const io::CsrMatrix& m, const std::vector<int>& group, int n_groups) {
  std::vector<std::vector<double>> sum(n_groups, std::vector<double>(m.n_cols, 0));
  std::vector<double> n(n_groups, 0);
  for (int64_t i = 0; i < m.n_rows; ++i) {
    if (group[i] < 0) continue;
    n[group[i]] += 1;
    for (int64_t k = m.indptr[i]; k < m.indptr[i + 1]; ++k) sum[group[i]][m.indices[k]] += m.data[k];
  }
  for (int g = 0; g < n_groups; ++g)
    for (double& v : sum[g]) v /= std::max(1.0, n[g]);
  return sum;
}

}  // namespace

TEST(SimFit, ParametersAreConsistent) {
  const auto& m = reference().model;
  ASSERT_EQ(m.types.size(), 8u);
  double p = 0;
  for (const auto& t : m.types) {
    p += t.proportion;
    EXPECT_NEAR(std::accumulate(t.rel_mean.begin(), t.rel_mean.end(), 0.0), 1.0, 1e-9) << t.name;
    for (double d : t.dispersion) EXPECT_TRUE(d >= m.fit.min_dispersion && d <= m.fit.max_dispersion);
    for (double d : t.dropout) EXPECT_TRUE(d >= 0 && d <= m.fit.max_dropout);
    EXPECT_GT(t.log_library_sd, 0);
  }
  EXPECT_NEAR(p, 1.0, 1e-12);
}

TEST(SimFit, RefusesNonCounts) {
  io::CsrMatrix m;
  m.n_rows = 1;
  m.n_cols = 2;
  m.indptr = {0, 1};
  m.indices = {0};
  m.data = {0.5f};
  EXPECT_THROW(sim::fit_model(m, {"a"}, {"g0", "g1"}), Error);
  EXPECT_THROW(sim::fit_model(m, {"a", "b"}, {"g0", "g1"}), Error);
}

// 20k cells: per type, log mean counts correlate > 0.95 with the reference's (genes with at least
// 3 counts in the type's reference cells); the overall library-size median is within 10% and each
// type's mean log library within 0.1 of the reference.
TEST(Simulate, MeansAndLibrarySizesMatchTheReference) {
  const Reference& r = reference();
  sim::SimulateOptions o;
  o.n_cells = 20000;
  o.seed = 11;
  sim::SimDesign d = sim::make_design(r.model, o);
  std::vector<sim::CellLabels> labels;
  io::CsrMatrix x = sim::simulate_block(d, 0, o.n_cells, &labels);
  const int n_types = static_cast<int>(d.model.types.size());
  std::map<std::string, int> type_index;
  for (int t = 0; t < n_types; ++t) type_index[d.model.types[t].name] = t;
  std::vector<int> ref_group, sim_group;
  for (const auto& l : r.labels) ref_group.push_back(type_index.at(l));
  for (const auto& l : labels) sim_group.push_back(l.type);
  auto ref_mean = group_means(r.counts, ref_group, n_types);
  auto sim_mean = group_means(x, sim_group, n_types);
  std::vector<double> ref_n(n_types, 0);
  for (int g : ref_group) ref_n[g] += 1;
  for (int t = 0; t < n_types; ++t) {
    std::vector<double> a, b;
    for (int64_t g = 0; g < x.n_cols; ++g)
      if (ref_mean[t][g] * ref_n[t] >= 3) {
        a.push_back(std::log(ref_mean[t][g]));
        b.push_back(std::log(std::max(sim_mean[t][g], 1e-6)));
      }
    const double c = correlation(a, b);
    std::cout << "[ info ] " << d.model.types[t].name << ": " << a.size() << " genes, log-mean correlation " << c
              << "\n";
    EXPECT_GT(c, 0.95) << d.model.types[t].name;
  }
  const std::vector<double> ref_tot = r.counts.row_sums(), sim_tot = x.row_sums();
  const double ref_med = median(ref_tot), sim_med = median(sim_tot);
  std::cout << "[ info ] library median: reference " << ref_med << ", simulated " << sim_med << "\n";
  EXPECT_NEAR(sim_med / ref_med, 1.0, 0.10);
  for (int t = 0; t < n_types; ++t) {
    double ls = 0, n = 0;
    for (int64_t i = 0; i < x.n_rows; ++i)
      if (sim_group[i] == t && sim_tot[i] > 0) {
        ls += std::log(sim_tot[i]);
        n += 1;
      }
    EXPECT_NEAR(ls / n, d.model.types[t].log_library_mean, 0.1) << d.model.types[t].name;
    EXPECT_NEAR(n / x.n_rows, d.model.types[t].proportion, 0.02) << d.model.types[t].name;
  }
}

// Two batches of strength 0.5: per-gene log ratios of the batch means spread like the difference
// of two N(0, 0.5) effects (sd 0.5 * sqrt 2) and follow the drawn effects.
TEST(Simulate, BatchEffectsHaveTheRequestedStrength) {
  sim::SimulateOptions o;
  o.n_cells = 20000;
  o.n_batches = 2;
  o.batch_strength = 0.5;
  o.seed = 3;
  sim::SimDesign d = sim::make_design(reference().model, o);
  std::vector<sim::CellLabels> labels;
  io::CsrMatrix x = sim::simulate_block(d, 0, o.n_cells, &labels);
  std::vector<int> batch;
  for (const auto& l : labels) batch.push_back(l.batch);
  auto means = group_means(x, batch, 2);
  std::vector<double> observed, truth;
  for (int64_t g = 0; g < x.n_cols; ++g)
    if (means[0][g] > 1 && means[1][g] > 1) {
      observed.push_back(std::log(means[0][g] / means[1][g]));
      truth.push_back(d.batch_log_effect[0][g] - d.batch_log_effect[1][g]);
    }
  ASSERT_GT(observed.size(), 100u);
  double mean = std::accumulate(observed.begin(), observed.end(), 0.0) / observed.size(), ss = 0;
  for (double v : observed) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (observed.size() - 1));
  std::cout << "[ info ] " << observed.size() << " genes: sd of log batch ratio " << sd << " (expected "
            << 0.5 * std::sqrt(2.0) << "), correlation with the truth " << correlation(observed, truth) << "\n";
  EXPECT_NEAR(sd, 0.5 * std::sqrt(2.0), 0.15 * 0.5 * std::sqrt(2.0));
  EXPECT_GT(correlation(observed, truth), 0.9);
}

TEST(Simulate, KnockDownReducesTheTargetAndShiftsItsProgram) {
  sim::SimulateOptions o;
  o.n_cells = 12000;
  o.n_perturb_genes = 3;
  o.seed = 5;
  sim::SimDesign d = sim::make_design(reference().model, o);
  ASSERT_EQ(d.perturbations.size(), 3u);
  std::vector<sim::CellLabels> labels;
  io::CsrMatrix x = sim::simulate_block(d, 0, o.n_cells, &labels);
  std::vector<int> group;
  for (const auto& l : labels) group.push_back(l.perturbation + 1);  // 0 = control
  auto means = group_means(x, group, 4);
  for (int k = 0; k < 3; ++k) {
    const auto& p = d.perturbations[k];
    const double ratio = means[k + 1][p.target] / means[0][p.target];
    std::cout << "[ info ] " << d.model.genes[p.target] << ": knock-down " << p.knockdown << ", observed " << ratio
              << "\n";
    EXPECT_NEAR(ratio, p.knockdown, 0.3 * p.knockdown + 0.02);
    int agree = 0, seen = 0;
    for (size_t j = 0; j < p.program_genes.size(); ++j) {
      const int32_t g = p.program_genes[j];
      if (means[0][g] < 0.05) continue;
      ++seen;
      agree += (std::log(means[k + 1][g] / means[0][g]) > 0) == (p.program_log_fc[j] > 0);
    }
    EXPECT_GE(agree, seen * 9 / 10) << d.model.genes[p.target];
  }
}

// Planted co-expression modules (ground truth for gene programs): the genes of one module
// correlate across cells, genes of different modules do not, and the module draws shift nothing
// else (strength 0 gives the cells of a design without modules).
TEST(Simulate, ModulesMakeTheirGenesCorrelate) {
  sim::SimulateOptions o;
  o.n_cells = 3000;
  o.n_modules = 4;
  o.module_size = 10;
  o.module_strength = 0.8;
  o.seed = 9;
  const sim::SimDesign d = sim::make_design(reference().model, o);
  ASSERT_EQ(d.modules.size(), 4u);
  std::vector<int> seen(d.model.genes.size(), 0);
  for (const auto& m : d.modules) {
    EXPECT_EQ(m.size(), 10u);
    EXPECT_TRUE(std::is_sorted(m.begin(), m.end()));
    for (int32_t g : m) EXPECT_EQ(seen[g]++, 0) << "gene in two modules";
  }
  const io::CsrMatrix x = sim::simulate_block(d, 0, o.n_cells);
  // Pearson correlation of log1p(counts / library) between two genes
  std::vector<double> lib = x.row_sums();
  auto column = [&](int32_t g) {
    std::vector<double> v(static_cast<size_t>(x.n_rows), 0.0);
    for (int64_t r = 0; r < x.n_rows; ++r)
      for (int64_t e = x.indptr[r]; e < x.indptr[r + 1]; ++e)
        if (x.indices[e] == g) v[r] = std::log1p(x.data[e] / std::max(lib[r], 1.0) * 1e4);
    return v;
  };
  auto corr = [](const std::vector<double>& a, const std::vector<double>& b) {
    double ma = 0, mb = 0;
    for (size_t i = 0; i < a.size(); ++i) ma += a[i] / a.size(), mb += b[i] / b.size();
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) ab += (a[i] - ma) * (b[i] - mb), aa += (a[i] - ma) * (a[i] - ma), bb += (b[i] - mb) * (b[i] - mb);
    return ab / std::sqrt(aa * bb);
  };
  double within = 0, across = 0;
  int nw = 0, na = 0;
  for (int m = 0; m < 2; ++m)
    for (int i = 0; i < 4; ++i) {
      const auto a = column(d.modules[m][i]);
      within += corr(a, column(d.modules[m][i + 4]));
      ++nw;
      across += corr(a, column(d.modules[m + 2][i]));
      ++na;
    }
  within /= nw;
  across /= na;
  std::cout << "[ info ] mean correlation within modules " << within << ", across " << across << "\n";
  EXPECT_GT(within, across + 0.1);
  sim::SimulateOptions off = o, none = o;
  off.module_strength = 0;
  none.n_modules = 0;
  EXPECT_EQ(sim::simulate_block(sim::make_design(reference().model, off), 0, 200).data,
            sim::simulate_block(sim::make_design(reference().model, none), 0, 200).data);
  sim::SimulateOptions bad = o;
  bad.n_modules = 1000;
  EXPECT_THROW(sim::make_design(reference().model, bad), Error);
}

TEST(Simulate, CellsDoNotDependOnBlocks) {
  sim::SimulateOptions o;
  o.n_cells = 700;
  o.n_batches = 3;
  o.batch_strength = 0.3;
  o.n_perturb_genes = 2;
  o.seed = 42;
  sim::SimDesign d = sim::make_design(reference().model, o);
  io::CsrMatrix whole = sim::simulate_block(d, 0, 700);
  int64_t start = 0;
  for (int64_t size : {1, 7, 300, 392}) {
    io::CsrMatrix part = sim::simulate_block(d, start, size);
    for (int64_t r = 0; r < size; ++r) {
      const int64_t a = whole.indptr[start + r], n = whole.indptr[start + r + 1] - a;
      ASSERT_EQ(part.indptr[r + 1] - part.indptr[r], n) << "cell " << start + r;
      for (int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(part.indices[part.indptr[r] + k], whole.indices[a + k]);
        ASSERT_EQ(part.data[part.indptr[r] + k], whole.data[a + k]);
      }
    }
    start += size;
  }
  sim::SimulateOptions other = o;
  other.seed = 43;
  io::CsrMatrix different = sim::simulate_block(sim::make_design(reference().model, other), 0, 700);
  EXPECT_NE(different.data, whole.data);
}

// The .h5ad writer streams blocks; its file is the same for every block size and thread count,
// and anndata reads it with the ground truth in obs and uns.
TEST(SimWrite, H5adIsIndependentOfBlocksAndReadable) {
  test::TempDir t;
  sim::SimulateOptions o;
  o.n_cells = 1000;
  o.n_batches = 2;
  o.batch_strength = 0.4;
  o.n_perturb_genes = 3;
  o.n_combos = 2;  // GEARS-style A+B conditions go through the same checks
  o.seed = 9;
  sim::SimDesign d = sim::make_design(reference().model, o);
  sim::WriteOptions w1, w2;
  w1.block_cells = 1000;
  w2.block_cells = 37;
  w2.threads = 2;
  sim::write_simulated_h5ad(d, t / "a.h5ad", w1);
  sim::write_simulated_h5ad(d, t / "b.h5ad", w2);
  io::AnnData a = io::read_h5ad(t / "a.h5ad"), b = io::read_h5ad(t / "b.h5ad");
  io::CsrMatrix xa = a.matrix_csr(), xb = b.matrix_csr();
  EXPECT_EQ(xa.indptr, xb.indptr);
  EXPECT_EQ(xa.indices, xb.indices);
  EXPECT_EQ(xa.data, xb.data);
  io::CsrMatrix direct = sim::simulate_block(d, 0, 1000);
  EXPECT_EQ(xa.data, direct.data);
  EXPECT_EQ(io::column_strings(a.obs(), "perturbation"), io::column_strings(b.obs(), "perturbation"));
  auto check = test::run_python("sim/sim_check.py", (t / "a.h5ad") + " 2>&1");
  EXPECT_EQ(check.output, "ok\n");
}

TEST(SimWrite, StoreHoldsTheCellsAndTheirLabels) {
  test::TempDir t;
  sim::SimulateOptions o;
  o.n_cells = 500;
  o.n_perturb_genes = 1;
  o.seed = 1;
  sim::SimDesign d = sim::make_design(reference().model, o);
  io::Vocab vocab = io::Vocab::build({d.model.genes});
  sim::WriteOptions w;
  w.block_cells = 64;
  w.shard_cells = 200;
  const int64_t n = sim::write_simulated_store(d, vocab, t / "store", w);
  store::CellStore s = store::CellStore::open(t / "store");
  EXPECT_EQ(s.n_cells(), n);
  EXPECT_GE(n, 495);
  std::vector<sim::CellLabels> labels;
  io::CsrMatrix x = sim::simulate_block(d, 0, 500, &labels);
  EXPECT_EQ(s.nnz(), x.nnz());
  // the store's first cell is cell 0 (no cell is empty at these library sizes)
  ASSERT_EQ(n, 500);
  for (int64_t i : {0, 123, 499}) {
    store::CellRow row = s.row(i);
    ASSERT_EQ(row.n, x.indptr[i + 1] - x.indptr[i]);
    for (int64_t k = 0; k < row.n; ++k) {
      EXPECT_EQ(vocab.token(row.ids[k]), d.model.genes[x.indices[x.indptr[i] + k]]);
      EXPECT_EQ(row.values[k], x.data[x.indptr[i] + k]);
    }
    EXPECT_EQ(s.obs("cell_type", i), d.model.types[labels[i].type].name);
    EXPECT_EQ(s.obs("perturbation", i), sim::perturbation_name(d, labels[i].perturbation));
  }
}

TEST(Simulate, CombinationsMultiplyTheirSinglesAndFollowGearsNames) {
  sim::SimulateOptions o;
  o.n_cells = 16000;
  o.n_perturb_genes = 3;
  o.n_combos = 2;
  o.interaction_strength = 0;  // combination = exactly the product of its singles
  o.program_strength = 1.5;
  o.seed = 8;
  sim::SimDesign d = sim::make_design(reference().model, o);
  ASSERT_EQ(d.combinations.size(), 2u);
  EXPECT_NE(std::make_pair(d.combinations[0].first, d.combinations[0].second),
            std::make_pair(d.combinations[1].first, d.combinations[1].second));
  for (const auto& c : d.combinations) {
    EXPECT_LT(c.first, c.second);
    std::vector<int32_t> u;
    const auto& a = d.perturbations[c.first].program_genes;
    const auto& b = d.perturbations[c.second].program_genes;
    std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(u));
    EXPECT_EQ(c.genes, u);
    for (double e : c.interaction_log_fc) EXPECT_DOUBLE_EQ(e, 0.0);
  }
  // names: ctrl / A+ctrl / A+B
  const std::string a = d.model.genes[d.perturbations[0].target];
  EXPECT_EQ(sim::condition_name(d, -1), "ctrl");
  EXPECT_EQ(sim::condition_name(d, 0), a + "+ctrl");
  const auto& c0 = d.combinations[0];
  EXPECT_EQ(sim::condition_name(d, 3), d.model.genes[d.perturbations[c0.first].target] + "+" +
                                           d.model.genes[d.perturbations[c0.second].target]);
  EXPECT_EQ(sim::perturbation_name(d, 3), sim::condition_name(d, 3));
  // the combination's targets are both knocked down, as in their singles
  std::vector<sim::CellLabels> labels;
  io::CsrMatrix x = sim::simulate_block(d, 0, o.n_cells, &labels);
  std::vector<int> group;
  for (const auto& l : labels) group.push_back(l.perturbation + 1);  // 0 = control, 4 = combination 0
  auto means = group_means(x, group, 6);
  for (const int32_t single : {c0.first, c0.second}) {
    const auto& p = d.perturbations[single];
    const double ratio = means[4][p.target] / means[0][p.target];
    EXPECT_NEAR(ratio, p.knockdown, 0.3 * p.knockdown + 0.03) << d.model.genes[p.target];
  }
  // with no interaction, log(combo / ctrl) ~ log(A / ctrl) + log(B / ctrl) on well-expressed genes
  // of the two programs
  int agree = 0, seen = 0;
  for (int32_t g : c0.genes) {
    if (means[0][g] < 0.2) continue;
    const double combo = std::log(means[4][g] / means[0][g]);
    const double sum = std::log(means[c0.first + 1][g] / means[0][g]) + std::log(means[c0.second + 1][g] / means[0][g]);
    ++seen;
    agree += std::fabs(combo - sum) < 0.35;
  }
  ASSERT_GT(seen, 5);
  EXPECT_GE(agree, seen * 8 / 10);
  EXPECT_THROW(([&] {
                 sim::SimulateOptions bad = o;
                 bad.n_combos = 4;  // 3 targets give only 3 pairs
                 sim::make_design(reference().model, bad);
               })(),
               Error);
}
