// scfm classify --in Y.h5ad --embedding X_scfm --label-col cell_type --out DIR [--trials 5] ...
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/classify.h"

namespace scfm::cli {

void print_classify(const nlohmann::json& r, const tasks::ClassifyOptions& o) {
  std::cout << "classify: " << r["n_labelled"].get<int64_t>() << " labelled cells, " << r["classes"].size()
            << " classes, obsm['" << o.embedding << "'] (" << r["representations"][o.embedding]["dim"].get<int64_t>()
            << " dims), " << o.trials << " trials\n";
  eval::Table t;
  t.columns = {"representation", "classifier", "accuracy", "macro-F1"};
  for (const auto& [rep, rj] : r["representations"].items())
    for (const char* key : {"knn", "linear", "linear_last_epoch", "linear_best_test_epoch"}) {
      const auto& m = rj[key];
      t.rows.push_back({rep, m["name"].get<std::string>(),
                        eval::cell(eval::MeanStd{m["accuracy"]["mean"].get<double>(), m["accuracy"]["std"].get<double>()}),
                        eval::cell(eval::MeanStd{m["macro_f1"]["mean"].get<double>(), m["macro_f1"]["std"].get<double>()})});
    }
  std::cout << t.markdown();
  if (r.contains("comparison"))
    for (const char* key : {"knn", "linear"}) {
      const auto& c = r["comparison"][key];
      std::cout << (std::string(key) == "knn" ? "kNN:    " : "linear: ") << c["verdict"].get<std::string>() << " ("
                << eval::cell(c["embedding_accuracy"].get<double>()) << " vs "
                << eval::cell(c["baseline_accuracy"].get<double>()) << "; better in "
                << c["trials_better"].get<int>() << " of " << o.trials << " trials)\n";
    }
}

void add_classify(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "classify", "Cell-type classification from an embedding (kNN + linear probe over seeded splits), against a PCA baseline");
  auto o = std::make_shared<tasks::ClassifyOptions>();
  auto json = std::make_shared<bool>(false);
  auto no_baseline = std::make_shared<bool>(false);
  cmd->add_option("--in", o->input, "Input .h5ad with the embedding in obsm and the labels in obs")->required();
  cmd->add_option("--embedding", o->embedding, "obsm key of the embedding")->capture_default_str();
  cmd->add_option("--label-col", o->label_col, "obs column with the labels")->capture_default_str();
  cmd->add_option("--out", o->out_dir, "Output folder: results.json, results.md, results.csv, confusion SVGs")->required();
  cmd->add_option("--trials", o->trials, "Seeded splits (seeds 0..trials-1)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--train-ratio", o->train_ratio, "Share of the labelled cells used for training")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--valid-ratio", o->valid_ratio, "Share of the training cells that chooses the linear probe's epoch")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--k", o->knn.k, "Neighbours of the kNN classifier")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--epochs", o->linear.epochs, "Linear probe epochs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--eval-every", o->linear.eval_every, "Evaluate the linear probe every this many epochs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", o->linear.lr, "Linear probe learning rate (Adam)")->capture_default_str();
  cmd->add_option("--batch-size", o->linear.batch_size, "Linear probe batch size")->capture_default_str()->check(CLI::PositiveNumber);
  auto probe_input = std::make_shared<std::string>("standardized");
  cmd->add_option("--probe-input", *probe_input,
                  "Linear probe inputs: standardized (z-scored per dimension on the probe's training cells) or raw "
                  "(scBenchmark's exact protocol: the embedding as it is)")
      ->capture_default_str()
      ->check(CLI::IsMember({"standardized", "raw"}));
  cmd->add_flag("--standardize", "Same as --probe-input standardized (the default; kept for old command lines)");
  cmd->add_flag("--no-baseline", *no_baseline, "Skip the PCA baseline (it reads the expression matrix)");
  cmd->add_option("--layer", o->pca.layer, "Baseline: read counts from this layer instead of X");
  cmd->add_option("--n-top-genes", o->pca.n_top_genes, "Baseline: highly variable genes kept")->capture_default_str();
  cmd->add_option("--n-comps", o->pca.n_comps, "Baseline: principal components")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--write-obs", o->write_obs,
                  "Also write a copy of the input with obs scfm_knn_pred (kNN from the trial-0 training cells; "
                  "training cells leave-one-out) and scfm_knn_split");
  cmd->add_flag("--json", *json, "Print results.json to stdout instead of the tables");
  cmd->callback([o, json, no_baseline, probe_input] {
    o->baseline = !*no_baseline;
    o->standardize = *probe_input == "standardized";
    const nlohmann::json r = tasks::classify(*o);
    if (*json) {
      nlohmann::json printed = r;
      printed.erase("seconds");
      std::cout << printed.dump(2) << "\n";
      return;
    }
    print_classify(r, *o);
    std::cout << "report: " << o->out_dir << "/results.md";
    if (!o->write_obs.empty()) std::cout << "; obs['scfm_knn_pred'] -> " << o->write_obs;
    std::cout << " (" << eval::cell(r["seconds"].get<double>(), 1) << " s)\n";
  });
}

}  // namespace scfm::cli
