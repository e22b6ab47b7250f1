// scfm finetune-annotate --model DIR --in REF.h5ad [--query Q.h5ad] --label-col cell_type --out DIR
#include <iostream>

#include "commands.h"
#include "scfm/runtime/allocator.h"
#include "scfm/tasks/finetune.h"

namespace scfm::cli {

void add_finetune_annotate(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("finetune-annotate",
                                 "Fine-tune a pretrained model with a cell-type head (scGPT's annotation task)");
  auto o = std::make_shared<tasks::FinetuneOptions>();
  cmd->add_option("--model", o->model_dir, "Run folder or scGPT checkpoint folder")->required();
  cmd->add_option("--in", o->input, "Labelled .h5ad (raw counts in X or --layer)")->required();
  cmd->add_option("--query", o->query, "Cells to annotate (scored when they carry --label-col); default: a held-out split of --in");
  cmd->add_option("--label-col", o->label_col, "obs column with the cell types");
  cmd->add_option("--out", o->out_dir, "Output folder: model/, results.json/md/csv, confusion.svg, annotated.h5ad")->required();
  cmd->add_option("--annotated", o->annotated, "Where to write the annotated .h5ad (default OUT/annotated.h5ad)");
  cmd->add_option("--gene-col", o->gene_col, "var column holding gene names (default: the var index)");
  cmd->add_option("--layer", o->layer, "Read this layer instead of X");
  cmd->add_option("--epochs", o->epochs, "Epochs");
  cmd->add_option("--batch-size", o->batch_size, "Cells per step");
  cmd->add_option("--lr", o->lr, "Adam learning rate");
  cmd->add_option("--step-gamma", o->step_gamma, "StepLR factor per epoch");
  cmd->add_option("--grad-clip", o->grad_clip, "Gradient norm clip (0 = off)");
  cmd->add_option("--train-ratio", o->train_ratio, "Training share of --in when there is no --query");
  cmd->add_option("--valid-ratio", o->valid_ratio, "Validation share of the training part");
  cmd->add_option("--n-layers-cls", o->n_layers_cls, "ClsDecoder depth (scGPT's nlayers_cls)");
  cmd->add_option("--max-length", o->max_length, "Tokens per cell including <cls>");
  cmd->add_flag("--freeze", o->freeze, "Freeze the pretrained model; train the head only");
  cmd->add_option("--seed", o->seed, "Seed for splits, shuffling, head initialisation and dropout");
  cmd->add_flag("--allow-partial", o->allow_partial, "Load a checkpoint with missing or unexpected keys (reported)");
  cmd->callback([o] {
    runtime::keep_freed_memory();
    auto r = tasks::finetune_annotate(*o);
    std::cout << "finetune-annotate: best epoch " << r["best_epoch"] << ", validation loss " << r["best_valid_loss"];
    if (r.contains("test"))
      std::cout << "; test accuracy " << r["test"]["accuracy"] << ", macro-F1 " << r["test"]["macro_f1"] << " ("
                << r["test"]["n"] << " cells)";
    std::cout << "\nresults: " << o->out_dir << "/results.md; predictions: " << r["annotated"].get<std::string>()
              << "; model: " << r["model_folder"].get<std::string>() << "\n";
  });
}

}  // namespace scfm::cli
