#include "scfm/tasks/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>

#include "scfm/eval/dataset.h"
#include "scfm/eval/metrics.h"
#include "scfm/eval/report.h"
#include "scfm/io/array.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/util/error.h"
#include "scfm/util/splitmix.h"

namespace scfm::tasks {
nlohmann::json integration_metrics(const MetricsOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw Error("metrics: an output folder (--out) is required");
  if (o.embeddings.empty() && !o.baselines) throw Error("metrics: nothing to score: give --embedding or keep the baselines");
  // ---- input checks before any work
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData ad = io::read_h5ad(o.input, ro);
  MetricsInput in;
  in.name = o.input;
  in.n = ad.n_obs();
  if (o.pseudo_batches <= 0) in.batch = eval::required_codes(o.input, ad, o.batch_col, "batch");
  in.label = eval::required_codes(o.input, ad, o.label_col, "label");
  for (const std::string& key : o.embeddings) {
    eval::Embedded e = eval::read_embedded(ad, key, "");
    in.embeddings.push_back({key, std::move(e.x), e.dim});
  }
  std::unique_ptr<io::H5adMatrixReader> counts;
  if (o.baselines) {
    io::H5adStreamOptions so;
    so.layer = o.pca.layer;
    counts = std::make_unique<io::H5adMatrixReader>(o.input, so);
    in.counts = counts.get();
  }
  const MetricsRun run = integration_metrics(o, std::move(in));
  if (!o.write_h5ad.empty()) {
    io::update_h5ad(o.input, o.write_h5ad, [&](io::AnnData& a) {
      if (a.root.child("obsm") == nullptr) a.root.set("obsm", io::make_dict());
      for (const MetricsRun::Method& m : run.methods) {
        if (m.key == "X_pca" || m.key == "X_pca_harmony")
          a.root.child("obsm")->set(m.key, io::make_array(io::Array::from(m.x, {run.n, m.dim})));
        io::dataframe_set_column(a.obs(), "scfm_leiden_" + m.key, io::make_categorical_from_labels(m.clusters));
      }
    });
  }
  nlohmann::json ret = run.results;
  ret["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ret;
}

MetricsRun integration_metrics(const MetricsOptions& o, MetricsInput in) {
  if (in.embeddings.empty() && !o.baselines) throw Error("metrics: nothing to score: give --embedding or keep the baselines");
  const int64_t n = in.n;
  eval::Encoded& batch = in.batch;
  if (o.pseudo_batches > 0) {
    batch = {};
    for (int b = 0; b < o.pseudo_batches; ++b) batch.classes.push_back("pseudo" + std::to_string(b));
    for (int64_t i = 0; i < n; ++i)
      batch.codes.push_back(static_cast<int32_t>(
          util::splitmix64(util::splitmix64(o.scib.leiden_seed ^ 0x70736575646fULL) + static_cast<uint64_t>(i)) %
          static_cast<uint64_t>(o.pseudo_batches)));
  }
  const eval::Encoded& label = in.label;
  if (static_cast<int64_t>(batch.codes.size()) != n || static_cast<int64_t>(label.codes.size()) != n)
    throw Error("metrics: " + in.name + ": batch and label columns need one value per cell (" + std::to_string(n) + ")");
  if (batch.classes.size() < 2)
    throw FormatError(in.name, "obs/" + o.batch_col,
                      "only one batch (" + (batch.classes.empty() ? std::string("none") : batch.classes[0]) +
                          "); integration metrics compare batches, so at least two are needed");
  if (label.classes.size() < 2)
    throw FormatError(in.name, "obs/" + o.label_col, "only one label; bio-conservation metrics need at least two");
  MetricsRun run;
  run.n = n;
  std::vector<MetricsRun::Method>& methods = run.methods;
  for (MetricsInput::Embedding& e : in.embeddings) {
    if (e.dim < 1 || static_cast<int64_t>(e.x.size()) != n * e.dim)
      throw FormatError(in.name, "obsm/" + e.key, "expected a 2-D array with one row per cell (" + std::to_string(n) + ")");
    methods.push_back({e.key, e.key, std::move(e.x), e.dim, {}});
  }

  // ---- peers: PCA and Harmony on it
  nlohmann::json out;
  double pcr_before = -1;
  if (o.baselines) {
    if (in.counts == nullptr) throw Error("metrics: the PCA and Harmony baselines need the cells' counts");
    const PcaBaseline pca = pca_baseline(*in.counts, in.name, o.pca);
    if (pca.scores.rows != n)
      throw Error(in.name + ": the matrix has " + std::to_string(pca.scores.rows) + " rows, obs " + std::to_string(n));
    const int64_t pd = pca.scores.cols;
    pcr_before = eval::pc_regression({pca.scores.data.data(), n, pd}, batch.codes, o.scib.pcr_comps);
    const auto th = std::chrono::steady_clock::now();
    const pp::HarmonyResult h = pp::harmony(pca.scores.data.data(), n, pd, batch.codes, o.harmony);
    out["harmony"] = {{"rounds", h.rounds}, {"converged", h.converged}, {"n_clusters", h.n_clusters},
                      {"objective", h.objective},
                      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - th).count()}};
    out["pca"] = {{"n_comps", pd}, {"n_genes_used", pca.n_genes_used}};
    methods.insert(methods.begin(), {"Harmony (on the PCA)", "X_pca_harmony", h.corrected, pd, {}});
    methods.insert(methods.begin(), {"PCA (unintegrated)", "X_pca", pca.scores.data, pd, {}});
  }

  // ---- score
  eval::Table table;
  table.title = "scib metrics (bio conservation, batch correction, averages)";
  table.columns = {"method"};
  for (const auto& m : eval::scib_metric_names()) table.columns.push_back(m);
  for (MetricsRun::Method& m : methods) {
    const auto tm = std::chrono::steady_clock::now();
    const eval::ScibResult r = eval::scib_metrics({m.x.data(), n, m.dim}, label.codes, label.classes, batch.codes,
                                                  batch.classes, pcr_before, o.scib);
    nlohmann::json mj = {{"key", m.key}, {"dim", m.dim}, {"metrics", r.metrics}, {"details", r.details},
                         {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - tm).count()}};
    out["methods"][m.name] = mj;
    std::vector<std::string> row{m.name};
    for (const auto& k : eval::scib_metric_names())
      row.push_back(r.metrics[k].is_null() ? "n/a" : eval::cell(r.metrics[k].get<double>()));
    table.rows.push_back(row);
    m.clusters.resize(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) m.clusters[c] = std::to_string(r.clusters[c]);
  }
  out["input"] = in.name;
  out["n_cells"] = n;
  out["batch_col"] = o.pseudo_batches > 0 ? "(pseudo-batches)" : o.batch_col;
  out["label_col"] = o.label_col;
  out["batches"] = batch.classes;
  out["labels"] = label.classes;
  out["method_order"] = nlohmann::json::array();
  for (const auto& m : methods) out["method_order"].push_back(m.name);

  eval::Report report;
  report.title = "Integration metrics: " + in.name;
  report.results = out;
  report.tables.push_back(table);
  report.notes = {
      std::to_string(n) + " cells, " + std::to_string(batch.classes.size()) + " batches (obs/" + o.batch_col + "), " +
          std::to_string(label.classes.size()) + " labels (obs/" + o.label_col + ").",
      "scib's definitions (scib 1.2): one 15-neighbour graph per method (exact kNN, UMAP connectivities), Leiden "
      "at resolutions 0.2..2.0 with NMI's best resolution for NMI/ARI; ASW scaled to [0, 1]; graph LISI with "
      "k0 = 90 on every cell (scib subsamples); PCR_batch against the unintegrated PCA. avg_bio = mean of the six "
      "bio metrics, avg_batch = mean of the four batch metrics (no kBET), overall = 0.6 avg_bio + 0.4 avg_batch; "
      "scgpt_avg_* are scGPT's narrower averages. See docs/integrate.md."};
  if (!o.out_dir.empty()) eval::write_report(o.out_dir, report);
  run.results = std::move(out);
  return run;
}

}  // namespace scfm::tasks
