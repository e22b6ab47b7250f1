// scfm metrics --in Y.h5ad --embedding X_scfm[,X_other] --batch-col batch --label-col cell_type --out DIR
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/metrics.h"

namespace scfm::cli {

void add_metrics(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "metrics", "scib's batch-integration metrics for embeddings, with PCA and Harmony scored in the same table");
  auto o = std::make_shared<tasks::MetricsOptions>();
  auto json = std::make_shared<bool>(false);
  auto no_baselines = std::make_shared<bool>(false);
  cmd->add_option("--in", o->input, "Input .h5ad (counts in X for the baselines, embeddings in obsm)")->required();
  cmd->add_option("--embedding", o->embeddings, "obsm key(s) to score, comma-separated or repeated")->delimiter(',');
  cmd->add_option("--batch-col", o->batch_col, "obs column with the batch of each cell")->capture_default_str();
  cmd->add_option("--label-col", o->label_col, "obs column with the cell type of each cell")->capture_default_str();
  cmd->add_option("--out", o->out_dir, "Output folder: results.json, results.md, results.csv")->required();
  cmd->add_option("--pseudo-batches", o->pseudo_batches,
                  "Ignore --batch-col: K random pseudo-batches (a check on data without batches)")
      ->check(CLI::Range(2, 1000));
  cmd->add_flag("--no-baselines", *no_baselines, "Skip the PCA and Harmony rows (they read X)");
  cmd->add_option("--layer", o->pca.layer, "Baselines: read counts from this layer instead of X");
  cmd->add_option("--n-top-genes", o->pca.n_top_genes, "Baselines: highly variable genes kept")->capture_default_str();
  cmd->add_option("--n-comps", o->pca.n_comps, "Baselines: principal components")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--harmony-theta", o->harmony.theta, "Harmony: diversity penalty")->capture_default_str();
  cmd->add_option("--harmony-lambda", o->harmony.lambda, "Harmony: ridge penalty")->capture_default_str();
  cmd->add_option("--harmony-clusters", o->harmony.n_clusters, "Harmony: clusters (0: min(N/30, 100))")->capture_default_str();
  cmd->add_option("--harmony-max-iter", o->harmony.max_iter_harmony, "Harmony: rounds")->capture_default_str();
  cmd->add_option("--n-neighbors", o->scib.n_neighbors, "Neighbours of the graph (the cell itself included)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--resolutions", o->scib.resolutions, "Leiden resolutions (default 0.2,0.4,...,2.0)")->delimiter(',');
  cmd->add_option("--seed", o->scib.leiden_seed, "Leiden and Harmony seed")->capture_default_str();
  cmd->add_option("--write-h5ad", o->write_h5ad,
                  "Also write a copy of the input with obsm X_pca / X_pca_harmony and obs scfm_leiden_<key>");
  cmd->add_flag("--json", *json, "Print results.json to stdout instead of the table");
  cmd->callback([o, json, no_baselines] {
    o->baselines = !*no_baselines;
    o->harmony.seed = o->scib.leiden_seed;
    const nlohmann::json r = tasks::integration_metrics(*o);
    if (*json) {
      nlohmann::json printed = r;
      printed.erase("seconds");
      std::cout << printed.dump(2) << "\n";
      return;
    }
    std::cout << "metrics: " << r["n_cells"].get<int64_t>() << " cells, " << r["batches"].size() << " batches, "
              << r["labels"].size() << " labels\n";
    eval::Table t;
    t.columns = {"method", "avg_bio", "avg_batch", "overall", "NMI", "ARI", "ASW_label", "ASW_batch", "graph_conn", "iLISI"};
    for (const auto& name : r["method_order"]) {
      const auto& m = r["methods"][name.get<std::string>()]["metrics"];
      std::vector<std::string> row{name.get<std::string>()};
      for (const char* k : {"avg_bio", "avg_batch", "overall", "NMI_cluster/label", "ARI_cluster/label", "ASW_label",
                            "ASW_label/batch", "graph_conn", "iLISI"})
        row.push_back(m[k].is_null() ? "n/a" : eval::cell(m[k].get<double>(), 3));
      t.rows.push_back(row);
    }
    std::cout << t.markdown() << "report: " << o->out_dir << "/results.md ("
              << eval::cell(r["seconds"].get<double>(), 1) << " s)\n";
  });
}

}  // namespace scfm::cli
