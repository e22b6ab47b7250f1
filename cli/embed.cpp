// scfm embed --model DIR --in X.h5ad --out Y.h5ad [--key X_scfm] ...
#include <iostream>

#include "commands.h"
#include "scfm/runtime/allocator.h"
#include "scfm/tasks/embed.h"

namespace scfm::cli {

void add_embed(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("embed", "Cell embeddings from a pretrained model into obsm of an .h5ad");
  auto o = std::make_shared<tasks::EmbedOptions>();
  cmd->add_option("--model", o->model_dir, "Run folder or scGPT checkpoint folder (args.json, best_model.pt, vocab.json)")->required();
  cmd->add_option("--in", o->input, "Input .h5ad (raw counts in X or --layer)")->required();
  cmd->add_option("--out", o->output, "Output .h5ad: a copy of the input with obsm[KEY] added")->required();
  cmd->add_option("--key", o->key, "obsm key");
  cmd->add_option("--gene-col", o->gene_col, "var column holding gene names (default: the var index)");
  cmd->add_option("--layer", o->layer, "Read this layer instead of X");
  cmd->add_option("--max-length", o->max_length, "Tokens per cell including <cls>");
  cmd->add_option("--batch-size", o->batch_size, "Cells per forward pass");
  cmd->add_option("--pool", o->pool,
                  "Cell vector: mean (of the gene tokens' outputs), cls (the <cls> output), model (the model's own "
                  "cell embedding), auto (mean, or model for backbones without per-token outputs)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "mean", "cls", "model"}));
  cmd->add_flag("--normalize-l2", o->normalize_l2, "L2-normalise each embedding (as scGPT's embed_data)");
  cmd->add_flag("--sample", o->sample, "scGPT's random gene sampling (keyed by --seed and cell) instead of the top genes");
  cmd->add_option("--seed", o->seed, "Seed for --sample");
  cmd->add_flag("--allow-partial", o->allow_partial, "Load a checkpoint with missing or unexpected keys (reported)");
  cmd->callback([o] {
    runtime::keep_freed_memory();
    auto summary = tasks::embed(*o);
    std::cout << "embed: " << summary["n_cells"] << " cells -> " << o->output << " obsm['" << o->key << "'] ("
              << summary["width"] << " dims, pool " << summary["pool"].get<std::string>() << "; " << summary["genes_matched"] << " genes matched)\n";
  });
}

}  // namespace scfm::cli
