// scfm perturb prepare | finetune | predict: Perturb-seq in GEARS's layout, scGPT's perturbation
// generator, GEARS's metrics and the baselines in one table.
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/perturb_classify.h"
#include "scfm/tasks/perturb_data.h"
#include "scfm/tasks/perturb_finetune.h"
#include "scfm/tasks/perturb_scbench.h"
#include "scfm/util/error.h"

namespace scfm::cli {
namespace {

void print_table(const nlohmann::json& r, const std::string& out_dir) {
  eval::Table t;
  t.columns = {"method", "pearson", "pearson_de", "pearson_delta", "pearson_de_delta", "mse_de"};
  for (const auto& name : r["method_order"]) {
    const auto& m = r["methods"][name.get<std::string>()]["mean"];
    t.rows.push_back({name.get<std::string>(), eval::cell(m["pearson"].get<double>()),
                      eval::cell(m["pearson_de"].get<double>()), eval::cell(m["pearson_delta"].get<double>()),
                      eval::cell(m["pearson_delta_de"].get<double>()), eval::cell(m["mse_de"].get<double>())});
  }
  std::cout << r["conditions"].size() << " held-out conditions\n"
            << t.markdown() << "report: " << out_dir << "/results.md (" << eval::cell(r["seconds"].get<double>(), 1)
            << " s)\n";
}

}  // namespace

void add_perturb(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("perturb", "Perturbation prediction: GEARS layout and split, scGPT's generator, GEARS metrics");
  cmd->require_subcommand(1);

  auto* prep = cmd->add_subcommand("prepare", "GEARS's data processing: log-normalise, genes, DE genes, seeded simulation split");
  auto po = std::make_shared<tasks::PerturbPrepareOptions>();
  auto pjson = std::make_shared<bool>(false);
  prep->add_option("--in", po->input, "Input .h5ad: obs condition ('ctrl', 'A+ctrl', 'A+B'), counts or log values")->required();
  prep->add_option("--out", po->output, "The prepared .h5ad")->required();
  prep->add_option("--condition-col", po->condition_col, "obs column with GEARS's condition names")->capture_default_str();
  prep->add_option("--gene-col", po->gene_col, "var column with gene symbols (the var index when absent)")->capture_default_str();
  prep->add_option("--layer", po->layer, "Read values from this layer instead of X");
  prep->add_option("--n-hvg", po->n_hvg, "Highly variable genes kept (perturbed genes always kept; 0 = all)")->capture_default_str();
  prep->add_option("--n-top-de", po->n_top_de, "DE genes per condition for the _de metrics")->capture_default_str();
  prep->add_option("--split-seed", po->split.seed, "GEARS split seed")->capture_default_str();
  prep->add_option("--train-gene-frac", po->split.train_gene_frac, "Share of perturbed genes seen in training")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  prep->add_option("--combo-seen2-train-frac", po->split.combo_seen2_train_frac,
                   "Share of combinations of two seen genes kept in training")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  prep->add_flag("--json", *pjson, "Print the summary as JSON");
  prep->callback([po, pjson] {
    nlohmann::json r = tasks::perturb_prepare(*po);
    if (*pjson) {
      r.erase("seconds");
      std::cout << r.dump(2) << "\n";
      return;
    }
    const auto& s = r["split"];
    std::cout << "perturb prepare: " << r["n_cells"] << " cells, " << r["n_single"] << " single and " << r["n_combo"]
              << " combination conditions, " << r["n_control_cells"] << " control cells, "
              << r["settings"]["n_genes"] << " genes (" << r["settings"]["input_values"].get<std::string>() << " in)\n"
              << "split (seed " << r["settings"]["split_seed"] << "): train " << s["train"].size() << ", val "
              << s["val"].size() << ", test " << s["test"].size() << " conditions";
    for (const char* g : {"unseen_single", "combo_seen0", "combo_seen1", "combo_seen2"})
      std::cout << ", " << g << " " << s["subgroups"][g].size();
    std::cout << "\nwrote " << po->output << " (" << eval::cell(r["seconds"].get<double>(), 1) << " s)\n";
  });

  auto* ft = cmd->add_subcommand("finetune", "scGPT's perturbation fine-tune (TransformerGenerator), then the test table");
  auto fo = std::make_shared<tasks::PerturbFinetuneOptions>();
  auto fjson = std::make_shared<bool>(false);
  ft->add_option("--model", fo->model_dir, "scGPT checkpoint folder or scfm run (structure scgpt)")->required();
  ft->add_option("--in", fo->input, "A file prepared by `scfm perturb prepare`")->required();
  ft->add_option("--out", fo->out_dir, "Output folder: model/, metrics.jsonl, results.*, predictions.h5ad")->required();
  ft->add_option("--epochs", fo->epochs, "Epochs")->capture_default_str()->check(CLI::PositiveNumber);
  ft->add_option("--batch-size", fo->batch_size, "Cells per step")->capture_default_str()->check(CLI::PositiveNumber);
  ft->add_option("--lr", fo->lr, "Adam learning rate")->capture_default_str();
  ft->add_option("--step-gamma", fo->step_gamma, "Learning-rate factor per epoch")->capture_default_str();
  ft->add_option("--max-seq-len", fo->max_seq_len, "Gene tokens per cell (perturbed genes always in)")->capture_default_str();
  ft->add_flag("--explicit-zero-prob", fo->explicit_zero_prob, "Also predict zero probabilities (scGPT's option)");
  ft->add_flag("--from-scratch", fo->from_scratch, "Same architecture, no pretrained weights (an ablation)");
  ft->add_option("--max-steps", fo->max_steps, "Stop after this many steps (0: all epochs)")->capture_default_str();
  ft->add_option("--max-train-cells", fo->max_train_cells, "Train on a keyed subset of this many cells per epoch (0: all)")
      ->capture_default_str();
  ft->add_option("--seed", fo->seed, "Seed (initialisation, pairing, order)")->capture_default_str();
  ft->add_flag("--json", *fjson, "Print results.json to stdout");
  ft->callback([fo, fjson] {
    nlohmann::json r = tasks::perturb_finetune(*fo);
    if (*fjson) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    print_table(r, fo->out_dir);
  });

  auto* cl = cmd->add_subcommand("classify", "Which perturbation produced a cell: kNN + linear probe on an embedding, vs PCA");
  auto co = std::make_shared<tasks::PerturbClassifyOptions>();
  auto cjson = std::make_shared<bool>(false);
  auto no_baseline = std::make_shared<bool>(false);
  cl->add_option("--in", co->classify.input, "Embedded .h5ad (scfm embed) with obs condition; counts in X for the baseline")->required();
  cl->add_option("--embedding", co->classify.embedding, "obsm key of the embedding")->capture_default_str();
  cl->add_option("--condition-col", co->condition_col, "obs column with GEARS's condition names")->capture_default_str();
  cl->add_option("--out", co->classify.out_dir, "Output folder: results.json, results.md, results.csv, confusion SVGs")->required();
  cl->add_flag("--singles-only", co->singles_only, "Leave combinations out (scBenchmark's files: singles and control)");
  cl->add_option("--trials", co->classify.trials, "Seeded splits")->capture_default_str()->check(CLI::PositiveNumber);
  cl->add_option("--train-ratio", co->classify.train_ratio, "Share of cells for training")->capture_default_str();
  cl->add_option("--k", co->classify.knn.k, "Neighbours of the kNN classifier")->capture_default_str();
  cl->add_option("--epochs", co->classify.linear.epochs, "Linear probe epochs")->capture_default_str();
  cl->add_flag("--no-baseline", *no_baseline, "Skip the PCA baseline (it reads X)");
  cl->add_flag("--json", *cjson, "Print results.json to stdout");
  cl->callback([co, cjson, no_baseline] {
    co->classify.baseline = !*no_baseline;
    nlohmann::json r = tasks::perturb_classify(*co);
    if (*cjson) {
      r.erase("seconds");
      std::cout << r.dump(2) << "\n";
      return;
    }
    print_classify(r, co->classify);
    std::cout << "report: " << co->classify.out_dir << "/results.md\n";
  });

  auto* pr = cmd->add_subcommand("predict", "Predict held-out perturbations with a fine-tuned generator and/or the baselines");
  auto qo = std::make_shared<tasks::PerturbPredictOptions>();
  auto sb = std::make_shared<tasks::PerturbScbenchOptions>();
  auto method = std::make_shared<std::string>("scgpt");
  auto qjson = std::make_shared<bool>(false);
  pr->add_option("--in", qo->input, "A file prepared by `scfm perturb prepare`")->required();
  pr->add_option("--out", qo->out_dir, "Output folder: results.*, predictions.h5ad")->required();
  pr->add_option("--method", *method,
                 "scgpt (a generator from perturb finetune), scbench (scBenchmark's two-stage cls offset on a "
                 "scBenchmark model) or baselines")
      ->capture_default_str()->check(CLI::IsMember({"scgpt", "scbench", "baselines"}));
  pr->add_option("--model", qo->model_dir, "scgpt: the model/ folder of perturb finetune; scbench: a scBenchmark run");
  pr->add_option("--base-epochs", sb->base_epochs, "scbench: stage-1 epochs (base offset, control cells)")->capture_default_str();
  pr->add_option("--offset-epochs", sb->offset_epochs, "scbench: stage-2 epochs (perturbation offset)")->capture_default_str();
  pr->add_option("--max-genes", sb->max_genes, "scbench: expressed genes per cell (weighted sample)")->capture_default_str();
  pr->add_option("--lr", sb->lr, "scbench: Adam learning rate")->capture_default_str();
  pr->add_option("--max-train-cells", sb->max_train_cells, "scbench: keyed subset of cells per epoch (0: all)")->capture_default_str();
  pr->add_option("--set", qo->set, "Conditions to score: test, val or train")->capture_default_str();
  pr->add_option("--batch-size", qo->batch_size, "Cells per forward pass")->capture_default_str();
  pr->add_option("--max-seq-len", qo->max_seq_len, "Gene tokens per cell")->capture_default_str();
  pr->add_option("--seed", qo->seed, "Pairing seed")->capture_default_str();
  pr->add_flag("--json", *qjson, "Print results.json to stdout");
  pr->callback([pr, qo, sb, method, qjson] {
    if (*method != "baselines" && qo->model_dir.empty())
      throw scfm::Error("perturb predict --method " + *method + " needs --model");
    if (*method == "scbench") {
      sb->model_dir = qo->model_dir;
      sb->input = qo->input;
      sb->out_dir = qo->out_dir;
      sb->seed = qo->seed;
      sb->max_seq_len = qo->max_seq_len;
      if (pr->count("--batch-size") > 0) sb->batch_size = qo->batch_size;  // else scBenchmark's 128
      if (qo->set != "test") throw scfm::Error("perturb predict --method scbench scores the test set only");
      nlohmann::json r = tasks::perturb_scbench(*sb);
      if (*qjson) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      const auto& m = r["scbench_mse"];
      std::cout << "scBenchmark's MSEs on " << m["n_cells"] << " held-out cells: no offset "
                << eval::cell(m["mse_no_offset"].get<double>()) << ", base " << eval::cell(m["mse_base"].get<double>())
                << ", final " << eval::cell(m["mse_final"].get<double>()) << "\n";
      print_table(r, qo->out_dir);
      return;
    }
    if (*method == "baselines") qo->model_dir.clear();
    nlohmann::json r = tasks::perturb_predict(*qo);
    if (*qjson) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    print_table(r, qo->out_dir);
  });
}

}  // namespace scfm::cli
