#include "scfm/tasks/classify.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/argmax.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/topk.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <tuple>

#include "scfm/eval/dataset.h"
#include "scfm/eval/metrics.h"
#include "scfm/eval/report.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/pp/hvg.h"
#include "scfm/pp/normalize.h"
#include "scfm/runtime/threads.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::tasks {

DenseMatrix DenseMatrix::gather(const std::vector<int64_t>& index) const {
  DenseMatrix out;
  out.rows = static_cast<int64_t>(index.size());
  out.cols = cols;
  out.data.resize(static_cast<size_t>(out.rows * cols));
  for (int64_t i = 0; i < out.rows; ++i) {
    if (index[i] < 0 || index[i] >= rows) throw Error("gather: row " + std::to_string(index[i]) + " out of range");
    std::copy(row(index[i]), row(index[i]) + cols, out.data.begin() + i * cols);
  }
  return out;
}

namespace {

// A float tensor viewing (not owning) a matrix; LibTorch only reads it.
at::Tensor view_of(const DenseMatrix& m) {
  return at::from_blob(const_cast<float*>(m.data.data()), {m.rows, m.cols}, at::kFloat);
}

void check_matrix(const DenseMatrix& m, const char* what) {
  if (m.rows < 0 || m.cols < 0 || static_cast<int64_t>(m.data.size()) != m.rows * m.cols)
    throw Error(std::string(what) + ": data holds " + std::to_string(m.data.size()) + " values, expected " +
                std::to_string(m.rows) + " x " + std::to_string(m.cols));
}

void check_codes(const std::vector<int32_t>& codes, int64_t rows, int32_t n_classes, const char* what) {
  if (static_cast<int64_t>(codes.size()) != rows)
    throw Error(std::string(what) + ": " + std::to_string(codes.size()) + " labels for " + std::to_string(rows) + " rows");
  for (int32_t c : codes)
    if (c < 0 || c >= n_classes)
      throw Error(std::string(what) + ": label code " + std::to_string(c) + " outside [0, " + std::to_string(n_classes) + ")");
}

// A permutation of 0..n-1 keyed by (seed, epoch): SplitMix64 Fisher-Yates.
std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  uint64_t state = util::splitmix64(util::splitmix64(seed ^ 0xC1A55B47CULL) + epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    state = util::splitmix64(state);
    std::swap(p[i], p[static_cast<int64_t>(state % static_cast<uint64_t>(i + 1))]);
  }
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
std::vector<int32_t> knn_classify(const DenseMatrix& train, const std::vector<int32_t>& train_codes,
                                  const DenseMatrix& query, int32_t n_classes, const KnnOptions& o,
                                  const std::vector<int64_t>& exclude) {
  check_matrix(train, "knn: training matrix");
  check_matrix(query, "knn: query matrix");
  if (o.k < 1) throw Error("knn: k must be at least 1, got " + std::to_string(o.k));
  if (train.rows == 0) throw Error("knn: no training rows");
  if (train.cols != query.cols)
    throw Error("knn: training rows have " + std::to_string(train.cols) + " dimensions, queries " +
                std::to_string(query.cols));
  check_codes(train_codes, train.rows, n_classes, "knn");
  if (!exclude.empty() && static_cast<int64_t>(exclude.size()) != query.rows)
    throw Error("knn: " + std::to_string(exclude.size()) + " exclusions for " + std::to_string(query.rows) + " queries");

  const int64_t n = train.rows, d = train.cols;
  // Candidates from a float ranking, then exact double distances among them: a margin of 16
  // beyond k absorbs the float rounding of |q|^2 - 2 q.t + |t|^2. The ranking works on data
  // centred on the training mean (distances do not change): an embedding far from the origin
  // compared with its spread would otherwise lose the differences to cancellation.
  const int64_t m = std::min<int64_t>(n, o.k + 16 + (exclude.empty() ? 0 : 1));
  std::vector<double> centre(static_cast<size_t>(d), 0.0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < d; ++c) centre[c] += train.row(j)[c];
  for (double& v : centre) v /= static_cast<double>(n);
  auto centred = [&](const float* rows, int64_t count) {
    at::Tensor out = at::empty({count, d}, at::kFloat);
    float* p = out.data_ptr<float>();
    for (int64_t i = 0; i < count; ++i)
      for (int64_t c = 0; c < d; ++c) p[i * d + c] = static_cast<float>(rows[i * d + c] - centre[c]);
    return out;
  };
  c10::NoGradGuard no_grad;
  const at::Tensor t = centred(train.data.data(), n);
  const at::Tensor t_norm = (t * t).sum({1}).unsqueeze(0);  // 1 x n
  std::vector<int32_t> pred(static_cast<size_t>(query.rows), 0);
  // query rows per block: at most block_rows, and a distance block of at most 2^26 floats (256 MiB)
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(o.block_rows, (int64_t{1} << 26) / n));
  std::vector<std::pair<double, int64_t>> cand;
  std::vector<int64_t> votes(static_cast<size_t>(n_classes));
  for (int64_t b0 = 0; b0 < query.rows; b0 += block) {
    const int64_t bn = std::min(block, query.rows - b0);
    const at::Tensor q = centred(query.row(b0), bn);
    // squared distance up to the per-query constant |q|^2
    at::Tensor dist = at::addmm(t_norm.expand({bn, n}), q, t.t(), 1.0, -2.0);
    if (!exclude.empty()) {
      float* dp = dist.data_ptr<float>();
      for (int64_t i = 0; i < bn; ++i) {
        const int64_t x = exclude[b0 + i];
        if (x >= 0 && x < n) dp[i * n + x] = std::numeric_limits<float>::infinity();
      }
    }
    const at::Tensor idx = std::get<1>(at::topk(dist, m, 1, /*largest=*/false, /*sorted=*/true)).contiguous();
    const int64_t* ip = idx.data_ptr<int64_t>();
    for (int64_t i = 0; i < bn; ++i) {
      const int64_t qi = b0 + i;
      const float* qr = query.row(qi);
      cand.clear();
      for (int64_t c = 0; c < m; ++c) {
        const int64_t j = ip[i * m + c];
        if (!exclude.empty() && exclude[qi] == j) continue;
        const float* tr = train.row(j);
        double s = 0;
        for (int64_t k = 0; k < d; ++k) {
          const double diff = static_cast<double>(qr[k]) - static_cast<double>(tr[k]);
          s += diff * diff;
        }
        cand.emplace_back(s, j);
      }
      std::sort(cand.begin(), cand.end());  // distance, then training row
      const size_t kk = std::min<size_t>(static_cast<size_t>(o.k), cand.size());
      std::fill(votes.begin(), votes.end(), 0);
      for (size_t c = 0; c < kk; ++c) ++votes[train_codes[cand[c].second]];
      // first maximum = lowest class code among tied votes
      pred[qi] = static_cast<int32_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
    }
  }
  return pred;
}

// ---------------------------------------------------------------------------------------------
LinearProbeRun linear_probe(const DenseMatrix& train, const std::vector<int32_t>& train_codes, int32_t n_classes,
                            const std::vector<const DenseMatrix*>& eval_sets, const LinearProbeOptions& o) {
  check_matrix(train, "linear probe: training matrix");
  check_codes(train_codes, train.rows, n_classes, "linear probe");
  if (train.rows == 0) throw Error("linear probe: no training rows");
  if (o.epochs < 1 || o.eval_every < 1 || o.batch_size < 1 || !(o.lr > 0))
    throw Error("linear probe: epochs, eval_every and batch size must be at least 1 and lr positive");
  for (const DenseMatrix* e : eval_sets) {
    check_matrix(*e, "linear probe: eval matrix");
    if (e->cols != train.cols)
      throw Error("linear probe: eval rows have " + std::to_string(e->cols) + " dimensions, training rows " +
                  std::to_string(train.cols));
  }
  const int64_t n = train.rows, d = train.cols;
  runtime::OneThread one_thread;
  const at::Tensor x = view_of(train);
  std::vector<int64_t> codes64(train_codes.begin(), train_codes.end());
  const at::Tensor y = at::from_blob(codes64.data(), {n}, at::kLong).clone();

  // nn.Linear's reset_parameters: kaiming_uniform_(a = sqrt(5)) gives U(-1/sqrt(fan_in), +); the
  // bias U(-1/sqrt(fan_in), +). From a generator seeded here, not the global one.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(util::splitmix64(o.seed ^ 0x11AEA4ULL));
  const double bound = d > 0 ? 1.0 / std::sqrt(static_cast<double>(d)) : 0.0;
  at::Tensor weight = at::empty({n_classes, d}, at::kFloat);
  at::Tensor bias = at::empty({n_classes}, at::kFloat);
  {
    c10::NoGradGuard no_grad;
    weight.uniform_(-bound, bound, gen);
    bias.uniform_(-bound, bound, gen);
  }
  weight.set_requires_grad(true);
  bias.set_requires_grad(true);
  torch::optim::Adam optimizer(std::vector<at::Tensor>{weight, bias}, torch::optim::AdamOptions(o.lr));

  LinearProbeRun run;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const std::vector<int64_t> perm = keyed_permutation(n, o.seed, static_cast<uint64_t>(epoch));
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b0 = 0; b0 < n; b0 += o.batch_size) {
      const int64_t bn = std::min(o.batch_size, n - b0);
      std::vector<int64_t> rows(perm.begin() + b0, perm.begin() + b0 + bn);
      const at::Tensor index = at::from_blob(rows.data(), {bn}, at::kLong);
      const at::Tensor xb = at::index_select(x, 0, index);
      const at::Tensor yb = at::index_select(y, 0, index);
      at::Tensor loss = at::cross_entropy_loss(at::linear(xb, weight, bias), yb);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.item<double>();
      ++batches;
    }
    run.train_loss.push_back(loss_sum / static_cast<double>(batches));
    if (epoch % o.eval_every == 0 || epoch == o.epochs) {
      c10::NoGradGuard no_grad;
      std::vector<std::vector<int32_t>> preds;
      for (const DenseMatrix* e : eval_sets) {
        std::vector<int32_t> p(static_cast<size_t>(e->rows));
        if (e->rows > 0) {
          const at::Tensor am = at::argmax(at::linear(view_of(*e), weight, bias), 1).contiguous();
          const int64_t* ap = am.data_ptr<int64_t>();
          for (int64_t i = 0; i < e->rows; ++i) p[i] = static_cast<int32_t>(ap[i]);
        }
        preds.push_back(std::move(p));
      }
      run.epochs.push_back(epoch);
      run.predictions.push_back(std::move(preds));
    }
  }
  return run;
}

// ---------------------------------------------------------------------------------------------
namespace {

struct Representation {
  std::string name;   // obsm key, or "baseline_pca"
  std::string label;  // for tables
  DenseMatrix x;
};

// The classifier variants reported per representation.
std::vector<std::pair<std::string, std::string>> methods(int k) {
  return {{"knn", "kNN (k=" + std::to_string(k) + ")"},
      {"linear", "linear probe (epoch chosen on validation)"},
      {"linear_last_epoch", "linear probe (last epoch)"},
      {"linear_best_test_epoch", "linear_best_test_epoch (optimistic, as scBenchmark)"}};
}

struct MethodTrials {
  std::vector<double> accuracy, macro_f1;
  std::vector<int> epoch;                 // linear variants: the epoch used per trial
  std::vector<int32_t> truth, pred;       // pooled over the trials' test cells
};

nlohmann::json summary(const std::vector<double>& v) {
  const eval::MeanStd ms = eval::mean_std(v);
  double pop = 0;
  if (!v.empty()) {
    for (double x : v) pop += (x - ms.mean) * (x - ms.mean);
    pop = std::sqrt(pop / static_cast<double>(v.size()));
  }
  return {{"mean", ms.mean}, {"std", ms.std}, {"std_ddof0", pop}, {"per_trial", v}};
}

double accuracy_of(const std::vector<int32_t>& truth, const std::vector<int32_t>& pred) {
  if (truth.empty()) return 0.0;
  int64_t ok = 0;
  for (size_t i = 0; i < truth.size(); ++i) ok += truth[i] == pred[i];
  return static_cast<double>(ok) / static_cast<double>(truth.size());
}

// The evaluation with the highest accuracy on `set`; ties: the first (scBenchmark's strict
// improvement) or, with `latest`, the last (the most trained of the equally good).
size_t best_evaluation(const LinearProbeRun& run, size_t set, const std::vector<int32_t>& truth, bool latest) {
  size_t best = 0;
  double best_acc = -1;
  for (size_t e = 0; e < run.epochs.size(); ++e) {
    const double a = accuracy_of(truth, run.predictions[e][set]);
    if (a > best_acc || (latest && a == best_acc)) {
      best_acc = a;
      best = e;
    }
  }
  return best;
}

std::vector<int32_t> codes_at(const std::vector<int32_t>& codes, const std::vector<int64_t>& rows) {
  std::vector<int32_t> out;
  out.reserve(rows.size());
  for (int64_t r : rows) out.push_back(codes[r]);
  return out;
}

void record(MethodTrials& mt, const std::vector<int32_t>& truth, const std::vector<int32_t>& pred,
            const std::vector<std::string>& classes, int epoch = -1) {
  const eval::ClassificationMetrics m = eval::classification_metrics(truth, pred, classes);
  mt.accuracy.push_back(m.accuracy);
  mt.macro_f1.push_back(m.macro_f1);
  if (epoch >= 0) mt.epoch.push_back(epoch);
  mt.truth.insert(mt.truth.end(), truth.begin(), truth.end());
  mt.pred.insert(mt.pred.end(), pred.begin(), pred.end());
}

// The probe's inputs, optionally standardised (sklearn's StandardScaler: per dimension, the mean
// and the population standard deviation of `fit`; a constant dimension is divided by 1).
struct Scaled {
  DenseMatrix fit;
  std::vector<DenseMatrix> others;
};
Scaled scaled(const DenseMatrix& fit, const std::vector<const DenseMatrix*>& others, bool standardize) {
  Scaled out{fit, {}};
  for (const DenseMatrix* m : others) out.others.push_back(*m);
  if (!standardize || fit.rows == 0) return out;
  const int64_t d = fit.cols;
  std::vector<double> mean(static_cast<size_t>(d), 0.0), sd(static_cast<size_t>(d), 0.0);
  for (int64_t i = 0; i < fit.rows; ++i)
    for (int64_t c = 0; c < d; ++c) mean[c] += fit.row(i)[c];
  for (double& m : mean) m /= static_cast<double>(fit.rows);
  for (int64_t i = 0; i < fit.rows; ++i)
    for (int64_t c = 0; c < d; ++c) sd[c] += (fit.row(i)[c] - mean[c]) * (fit.row(i)[c] - mean[c]);
  for (double& v : sd) {
    v = std::sqrt(v / static_cast<double>(fit.rows));
    if (v == 0) v = 1;
  }
  auto apply = [&](DenseMatrix& m) {
    for (int64_t i = 0; i < m.rows; ++i)
      for (int64_t c = 0; c < d; ++c) m.data[i * d + c] = static_cast<float>((m.data[i * d + c] - mean[c]) / sd[c]);
  };
  apply(out.fit);
  for (DenseMatrix& m : out.others) apply(m);
  return out;
}

std::string signed_cell(double v) { return (v >= 0 ? "+" : "") + eval::cell(v); }

}  // namespace

namespace {

void check_options(const ClassifyOptions& o) {
  if (o.trials < 1) throw Error("classify: --trials must be at least 1");
  if (!(o.train_ratio > 0 && o.train_ratio < 1)) throw Error("classify: --train-ratio must be in (0, 1)");
  if (!(o.valid_ratio > 0 && o.valid_ratio < 1)) throw Error("classify: the validation ratio must be in (0, 1)");
}

}  // namespace

nlohmann::json classify(const ClassifyOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o);
  if (o.out_dir.empty()) throw Error("classify: an output folder is required");
  const eval::Embedded emb = eval::read_embedded(o.input, o.embedding, o.label_col);
  std::unique_ptr<io::H5adMatrixReader> counts;
  if (o.baseline) {
    io::H5adStreamOptions so;
    so.layer = o.pca.layer;
    counts = std::make_unique<io::H5adMatrixReader>(o.input, so);
  }
  const ClassifyRun run = classify_embedded(o, emb, counts.get(), !o.write_obs.empty());
  if (!o.write_obs.empty()) {
    io::update_h5ad(o.input, o.write_obs, [&](io::AnnData& ad) {
      io::dataframe_set_column(ad.obs(), "scfm_knn_pred", io::make_categorical_from_labels(run.knn_pred));
      io::dataframe_set_column(ad.obs(), "scfm_knn_split", io::make_categorical_from_labels(run.knn_split));
    });
  }
  nlohmann::json ret = run.results;
  ret["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ret;
}

ClassifyRun classify_embedded(const ClassifyOptions& o, const eval::Embedded& emb, io::RowSource* counts,
                              bool predict_cells) {
  check_options(o);
  const eval::Encoded enc = eval::encode_labels(emb.labels);
  const auto n_classes = static_cast<int32_t>(enc.classes.size());
  std::vector<int64_t> labelled;
  for (int64_t i = 0; i < emb.n; ++i)
    if (enc.codes[i] >= 0) labelled.push_back(i);
  const auto n_lab = static_cast<int64_t>(labelled.size());
  if (n_classes < 2)
    throw Error(emb.path + ": obs/" + o.label_col + " has " + std::to_string(n_classes) +
                " class(es); classification needs at least 2");
  if (std::llround(o.train_ratio * n_lab) < 2 || n_lab - std::llround(o.train_ratio * n_lab) < 1)
    throw Error(emb.path + ": " + std::to_string(n_lab) + " labelled cells are too few for a " +
                std::to_string(o.train_ratio) + " train split");

  std::vector<Representation> reps;
  reps.push_back({o.embedding, o.embedding, DenseMatrix{emb.n, emb.dim, emb.x}});
  nlohmann::json baseline_info = nullptr;
  if (o.baseline) {
    if (counts == nullptr) throw Error("classify: the PCA baseline needs the cells' counts");
    PcaBaseline pb = pca_baseline(*counts, emb.path, o.pca);
    if (pb.scores.rows != emb.n)
      throw Error(emb.path + ": the matrix has " + std::to_string(pb.scores.rows) + " rows, obs " + std::to_string(emb.n));
    baseline_info = {{"pipeline", "normalize_total(target_sum=" + eval::cell(o.pca.target_sum, 0) +
                                      "), log1p, highly_variable_genes(flavor=seurat, n_top_genes=" +
                                      std::to_string(o.pca.n_top_genes) + ") when more genes, centre, PCA"},
                     {"matrix", o.pca.layer.empty() ? std::string("X") : "layers/" + o.pca.layer},
                     {"n_genes", pb.n_genes},
                     {"n_genes_used", pb.n_genes_used},
                     {"n_comps", pb.scores.cols},
                     {"variance_ratio", pb.variance_ratio}};
    reps.push_back({"baseline_pca", "PCA" + std::to_string(pb.scores.cols) + " of log-normalised expression (baseline)",
                    std::move(pb.scores)});
  }

  // results[rep][method]
  std::vector<std::map<std::string, MethodTrials>> results(reps.size());
  nlohmann::json splits = nlohmann::json::array();
  for (int trial = 0; trial < o.trials; ++trial) {
    const uint64_t seed = static_cast<uint64_t>(trial);
    const eval::Split sp = eval::random_split(n_lab, o.train_ratio, seed);
    std::vector<int64_t> train_rows, test_rows;
    for (int64_t i : sp.train) train_rows.push_back(labelled[i]);
    for (int64_t i : sp.test) test_rows.push_back(labelled[i]);
    // the validation part of the training rows, for the honest epoch choice
    std::vector<int64_t> fit_rows, valid_rows;
    const auto n_train = static_cast<int64_t>(train_rows.size());
    const eval::Split inner = eval::random_split(n_train, 1.0 - o.valid_ratio, util::splitmix64(seed ^ 0x7A11DULL));
    for (int64_t i : inner.train) fit_rows.push_back(train_rows[i]);
    for (int64_t i : inner.test) valid_rows.push_back(train_rows[i]);
    splits.push_back({{"seed", seed}, {"train", n_train}, {"test", test_rows.size()},
                      {"fit", fit_rows.size()}, {"valid", valid_rows.size()}});
    const std::vector<int32_t> y_train = codes_at(enc.codes, train_rows), y_test = codes_at(enc.codes, test_rows),
                               y_fit = codes_at(enc.codes, fit_rows), y_valid = codes_at(enc.codes, valid_rows);
    LinearProbeOptions lo = o.linear;
    lo.seed = seed;
    for (size_t r = 0; r < reps.size(); ++r) {
      const DenseMatrix x_train = reps[r].x.gather(train_rows), x_test = reps[r].x.gather(test_rows);
      auto& res = results[r];
      record(res["knn"], y_test, knn_classify(x_train, y_train, x_test, n_classes, o.knn), enc.classes);
      // probe 1 (scBenchmark's): all training cells; best test evaluation and the last one
      const Scaled p1 = scaled(x_train, {&x_test}, o.standardize);
      const LinearProbeRun full = linear_probe(p1.fit, y_train, n_classes, {&p1.others[0]}, lo);
      const size_t best = best_evaluation(full, 0, y_test, false);
      record(res["linear_best_test_epoch"], y_test, full.predictions[best][0], enc.classes, full.epochs[best]);
      record(res["linear_last_epoch"], y_test, full.predictions.back()[0], enc.classes, full.epochs.back());
      // probe 2: the fit part; the epoch chosen on the validation part (the last one if it is empty)
      if (valid_rows.empty() || fit_rows.empty()) {
        record(res["linear"], y_test, full.predictions.back()[0], enc.classes, full.epochs.back());
      } else {
        const DenseMatrix x_fit = reps[r].x.gather(fit_rows), x_valid = reps[r].x.gather(valid_rows);
        const Scaled p2 = scaled(x_fit, {&x_valid, &x_test}, o.standardize);
        const LinearProbeRun honest = linear_probe(p2.fit, y_fit, n_classes, {&p2.others[0], &p2.others[1]}, lo);
        const size_t chosen = best_evaluation(honest, 0, y_valid, true);
        record(res["linear"], y_test, honest.predictions[chosen][1], enc.classes, honest.epochs[chosen]);
      }
    }
  }

  // ---- results.json
  nlohmann::json out;
  out["task"] = "classify";
  out["input"] = emb.path;
  out["embedding"] = o.embedding;
  out["label_col"] = o.label_col;
  out["n_cells"] = emb.n;
  out["n_labelled"] = n_lab;
  out["classes"] = enc.classes;
  out["protocol"] = {
      {"trials", o.trials},
      {"train_ratio", o.train_ratio},
      {"split_seeds", "0.." + std::to_string(o.trials - 1)},
      {"valid_ratio_of_train", o.valid_ratio},
      {"knn", {{"k", o.knn.k}, {"metric", "euclidean"}, {"weights", "uniform"},
               {"ties", "equal distances: lower training row first; equal votes: lowest class code (sorted class names)"}}},
      {"linear", {{"layer", "nn.Linear(dim, n_classes)"}, {"loss", "cross-entropy"}, {"optimizer", "Adam"},
                  {"lr", o.linear.lr}, {"batch_size", o.linear.batch_size}, {"epochs", o.linear.epochs},
                  {"eval_every", o.linear.eval_every}, {"input_normalisation", o.standardize ? "standardised per dimension on the probe's training cells (sklearn StandardScaler)" : "none"}}},
      {"splits", splits}};
  if (!baseline_info.is_null()) out["baseline"] = baseline_info;
  nlohmann::json reps_json = nlohmann::json::object();
  for (size_t r = 0; r < reps.size(); ++r) {
    nlohmann::json rj;
    rj["dim"] = reps[r].x.cols;
    rj["label"] = reps[r].label;
    for (const auto& [key, name] : methods(o.knn.k)) {
      const MethodTrials& mt = results[r].at(key);
      nlohmann::json mj;
      mj["name"] = name;
      mj["accuracy"] = summary(mt.accuracy);
      mj["macro_f1"] = summary(mt.macro_f1);
      if (!mt.epoch.empty()) mj["epochs"] = mt.epoch;
      mj["pooled"] = eval::to_json(eval::classification_metrics(mt.truth, mt.pred, enc.classes));
      rj[key] = mj;
    }
    reps_json[reps[r].name] = rj;
  }
  out["representations"] = reps_json;

  // the embedding against the baseline, trial by trial (the splits are shared: paired)
  std::vector<eval::Table> tables;
  eval::Table main_t;
  main_t.title = "Accuracy over " + std::to_string(o.trials) + " trials (mean ± std)";
  main_t.columns = {"representation", "classifier", "accuracy", "macro-F1"};
  for (size_t r = 0; r < reps.size(); ++r)
    for (const auto& [key, name] : methods(o.knn.k)) {
      const MethodTrials& mt = results[r].at(key);
      main_t.rows.push_back({reps[r].label, name, eval::cell(eval::mean_std(mt.accuracy)),
                             eval::cell(eval::mean_std(mt.macro_f1))});
    }
  tables.push_back(main_t);
  std::vector<std::string> notes;
  if (reps.size() > 1) {
    nlohmann::json cmp = nlohmann::json::object();
    eval::Table ct;
    ct.title = o.embedding + " against the baseline (same splits)";
    ct.columns = {"classifier", o.embedding, "baseline", "difference", "trials better / equal / worse", "verdict"};
    for (const auto& [key, name] : methods(o.knn.k)) {
      const MethodTrials& a = results[0].at(key);
      const MethodTrials& b = results[1].at(key);
      int better = 0, equal = 0, worse = 0;
      for (size_t t = 0; t < a.accuracy.size(); ++t) {
        if (a.accuracy[t] > b.accuracy[t]) ++better;
        else if (a.accuracy[t] < b.accuracy[t]) ++worse;
        else ++equal;
      }
      const double ma = eval::mean_std(a.accuracy).mean, mb = eval::mean_std(b.accuracy).mean;
      const std::string verdict = ma > mb ? o.embedding + " beats the baseline"
                                  : ma < mb ? "the baseline beats " + o.embedding
                                            : "equal";
      cmp[key] = {{"embedding_accuracy", ma}, {"baseline_accuracy", mb}, {"difference", ma - mb},
                  {"trials_better", better}, {"trials_equal", equal}, {"trials_worse", worse},
                  {"embedding_beats_baseline", ma > mb}, {"verdict", verdict}};
      ct.rows.push_back({name, eval::cell(ma), eval::cell(mb), signed_cell(ma - mb),
                         std::to_string(better) + " / " + std::to_string(equal) + " / " + std::to_string(worse), verdict});
    }
    out["comparison"] = cmp;
    tables.push_back(ct);
  }
  // per-class precision and recall, pooled over the trials
  eval::Table pc;
  pc.title = "Per class, pooled over the trials' test cells (precision / recall)";
  pc.columns = {"class", "test cells"};
  for (const auto& rep : reps)
    for (const char* key : {"knn", "linear"})
      pc.columns.push_back(rep.name + " " + (std::string(key) == "knn" ? "kNN" : "linear"));
  std::vector<std::vector<eval::ClassificationMetrics>> pooled;
  for (size_t r = 0; r < reps.size(); ++r)
    pooled.push_back({eval::classification_metrics(results[r].at("knn").truth, results[r].at("knn").pred, enc.classes),
                      eval::classification_metrics(results[r].at("linear").truth, results[r].at("linear").pred, enc.classes)});
  for (int32_t c = 0; c < n_classes; ++c) {
    std::vector<std::string> row = {enc.classes[c], std::to_string(pooled[0][0].support[c])};
    for (const auto& pr : pooled)
      for (const auto& m : pr) row.push_back(eval::cell(m.precision[c], 3) + " / " + eval::cell(m.recall[c], 3));
    pc.rows.push_back(row);
  }
  tables.push_back(pc);

  eval::Report report;
  report.title = "scfm classify: " + o.embedding + " -> obs/" + o.label_col;
  report.results = out;
  report.tables = tables;
  for (size_t r = 0; r < reps.size(); ++r) {
    report.svgs.emplace_back("confusion_" + reps[r].name + "_knn.svg",
                             eval::confusion_svg(pooled[r][0], reps[r].label + ": kNN (k=" + std::to_string(o.knn.k) + "), pooled over trials"));
    report.svgs.emplace_back("confusion_" + reps[r].name + "_linear.svg",
                             eval::confusion_svg(pooled[r][1], reps[r].label + ": linear probe, pooled over trials"));
  }
  notes.push_back("Splits: " + std::to_string(o.trials) + " trials, seeds 0.." + std::to_string(o.trials - 1) + ", " +
                  eval::cell(o.train_ratio, 2) + " of the " + std::to_string(n_lab) +
                  " labelled cells for training. std is the sample standard deviation (n - 1) over trials; "
                  "results.json also holds std_ddof0 (numpy's np.std, what scBenchmark prints).");
  notes.push_back("linear_best_test_epoch is scBenchmark's number: the best test accuracy over the evaluation "
                  "epochs, i.e. the epoch is chosen on the test cells, so it is optimistic. 'epoch chosen on "
                  "validation' trains a second probe on " + eval::cell(1 - o.valid_ratio, 2) +
                  " of the training cells and picks the epoch on the rest. See docs/classify.md.");
  report.notes = notes;
  if (!o.out_dir.empty()) eval::write_report(o.out_dir, report);
  ClassifyRun run;

  // ---- --write-obs: kNN predictions for every cell from the trial-0 training cells
  if (predict_cells) {
    const eval::Split sp = eval::random_split(n_lab, o.train_ratio, 0);
    std::vector<int64_t> train_rows;
    for (int64_t i : sp.train) train_rows.push_back(labelled[i]);
    std::vector<int64_t> exclude(static_cast<size_t>(emb.n), -1);
    for (size_t j = 0; j < train_rows.size(); ++j) exclude[train_rows[j]] = static_cast<int64_t>(j);
    const DenseMatrix& x = reps[0].x;
    const std::vector<int32_t> pred =
        knn_classify(x.gather(train_rows), codes_at(enc.codes, train_rows), x, n_classes, o.knn, exclude);
    std::vector<std::string> pred_names(static_cast<size_t>(emb.n)), role(static_cast<size_t>(emb.n), "unlabelled");
    for (int64_t i = 0; i < emb.n; ++i) pred_names[i] = enc.classes[pred[i]];
    for (int64_t i : labelled) role[i] = "test";
    for (int64_t i : train_rows) role[i] = "train";
    run.knn_pred = std::move(pred_names);
    run.knn_split = std::move(role);
  }
  run.results = std::move(out);
  return run;
}

}  // namespace scfm::tasks
