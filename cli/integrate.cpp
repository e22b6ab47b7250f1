// scfm integrate --model DIR --in X.h5ad --batch-col B [--label-col L] --out DIR --out-h5ad Y.h5ad
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/integrate.h"

namespace scfm::cli {

void add_integrate(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand(
      "integrate", "scGPT's batch-integration fine-tune (GEP+GEPC, ECS, DAB, DSBN), then scib metrics vs PCA and Harmony");
  auto o = std::make_shared<tasks::IntegrateOptions>();
  auto json = std::make_shared<bool>(false);
  auto off = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--model", o->model_dir, "scGPT checkpoint folder or scfm run (structure scgpt)")->required();
  cmd->add_option("--in", o->input, "Input .h5ad with raw counts in X (or --layer)")->required();
  cmd->add_option("--batch-col", o->batch_col, "obs column with the batch of each cell")->capture_default_str();
  cmd->add_option("--label-col", o->label_col, "obs column with cell types: only for the metrics (never trained on)");
  cmd->add_option("--out", o->out_dir, "Output folder: model/, metrics.jsonl, integrate.json, results.*")->required();
  cmd->add_option("--out-h5ad", o->output, "The integrated .h5ad (obsm[--key], obsm[--zero-shot-key])")->required();
  cmd->add_option("--key", o->key, "obsm key of the integrated embedding")->capture_default_str();
  cmd->add_option("--zero-shot-key", o->zero_shot_key, "obsm key of the pretrained model's embedding (\"\": skip)")
      ->capture_default_str();
  cmd->add_option("--gene-col", o->gene_col, "var column with gene symbols (default: the var index)");
  cmd->add_option("--layer", o->layer, "Read counts from this layer instead of X");
  cmd->add_option("--n-hvg", o->n_hvg, "Highly variable genes (seurat_v3, per batch) used as tokens")->capture_default_str();
  cmd->add_option("--n-bins", o->n_bins, "Value bins per cell")->capture_default_str();
  cmd->add_option("--mask-ratio", o->mask_ratio, "Share of gene tokens masked")->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Epochs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", o->batch_size, "Cells per step")->capture_default_str();
  cmd->add_option("--lr", o->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--step-gamma", o->step_gamma, "StepLR factor per epoch")->capture_default_str();
  cmd->add_option("--ecs-threshold", o->ecs_threshold, "ECS similarity threshold")->capture_default_str();
  cmd->add_option("--ecs-weight", o->ecs_weight, "ECS loss weight")->capture_default_str();
  cmd->add_option("--dab-weight", o->dab_weight, "DAB loss weight")->capture_default_str();
  cmd->add_option("--disable", *off, "Parts to leave out: dsbn, dab, ecs, gepc, zero-prob")
      ->delimiter(',')
      ->check(CLI::IsMember({"dsbn", "dab", "ecs", "gepc", "zero-prob"}));
  cmd->add_option("--max-steps", o->max_steps, "Stop after this many steps (0: all epochs)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed (masking, batches, initialisation of the new parts)")->capture_default_str();
  cmd->add_flag("--json", *json, "Print integrate.json to stdout instead of the table");
  cmd->callback([o, json, off] {
    for (const auto& p : *off) {
      if (p == "dsbn") o->dsbn = false;
      if (p == "dab") o->dab = false;
      if (p == "ecs") o->ecs = false;
      if (p == "gepc") o->gepc = false;
      if (p == "zero-prob") o->explicit_zero_prob = false;
    }
    o->metric_options.harmony.seed = o->seed;
    const nlohmann::json r = tasks::integrate(*o);
    if (*json) {
      nlohmann::json printed = r;
      printed.erase("seconds");
      std::cout << printed.dump(2) << "\n";
      return;
    }
    std::cout << "integrate: " << r["n_cells"].get<int64_t>() << " cells, " << r["steps"].get<int64_t>() << " steps ("
              << eval::cell(r["finetune_cells_per_s"].get<double>(), 1) << " cells/s) -> " << o->output << " obsm['"
              << o->key << "'], model " << r["model_folder"].get<std::string>() << "\n";
    if (r.contains("metrics")) {
      eval::Table t;
      t.columns = {"method", "avg_bio", "avg_batch", "overall", "NMI", "ARI", "ASW_label", "ASW_batch", "graph_conn", "iLISI"};
      const auto& mr = r["metrics"];
      for (const auto& name : mr["method_order"]) {
        const auto& m = mr["methods"][name.get<std::string>()]["metrics"];
        std::vector<std::string> row{name.get<std::string>()};
        for (const char* k : {"avg_bio", "avg_batch", "overall", "NMI_cluster/label", "ARI_cluster/label", "ASW_label",
                              "ASW_label/batch", "graph_conn", "iLISI"})
          row.push_back(m[k].is_null() ? "n/a" : eval::cell(m[k].get<double>(), 3));
        t.rows.push_back(row);
      }
      std::cout << t.markdown() << "report: " << o->out_dir << "/results.md\n";
    }
  });
}

}  // namespace scfm::cli
