// scfm perturb prepare | finetune | predict: Perturb-seq in GEARS's layout, scGPT's perturbation
// generator, GEARS's metrics and the baselines in one table.
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/perturb_data.h"
#include "scfm/tasks/perturb_finetune.h"
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

  auto* pr = cmd->add_subcommand("predict", "Predict held-out perturbations with a fine-tuned generator and/or the baselines");
  auto qo = std::make_shared<tasks::PerturbPredictOptions>();
  auto method = std::make_shared<std::string>("scgpt");
  auto qjson = std::make_shared<bool>(false);
  pr->add_option("--in", qo->input, "A file prepared by `scfm perturb prepare`")->required();
  pr->add_option("--out", qo->out_dir, "Output folder: results.*, predictions.h5ad")->required();
  pr->add_option("--method", *method, "scgpt (needs --model) or baselines")
      ->capture_default_str()->check(CLI::IsMember({"scgpt", "baselines"}));
  pr->add_option("--model", qo->model_dir, "Folder written by `scfm perturb finetune` (its model/)");
  pr->add_option("--set", qo->set, "Conditions to score: test, val or train")->capture_default_str();
  pr->add_option("--batch-size", qo->batch_size, "Cells per forward pass")->capture_default_str();
  pr->add_option("--max-seq-len", qo->max_seq_len, "Gene tokens per cell")->capture_default_str();
  pr->add_option("--seed", qo->seed, "Pairing seed")->capture_default_str();
  pr->add_flag("--json", *qjson, "Print results.json to stdout");
  pr->callback([qo, method, qjson] {
    if (*method == "scgpt" && qo->model_dir.empty()) throw scfm::Error("perturb predict --method scgpt needs --model");
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
