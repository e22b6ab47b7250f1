// scfm umap --in X.h5ad --embedding X_scfm --out Y.h5ad [--color cell_type,batch]
#include <iostream>

#include "commands.h"
#include "scfm/eval/report.h"
#include "scfm/tasks/umap.h"

namespace scfm::cli {

void add_umap(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("umap", "UMAP of an embedding, written as scanpy writes it (obsm['X_umap'], uns['umap'])");
  auto o = std::make_shared<tasks::UmapTaskOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--in", o->input, "Input .h5ad with the embedding in obsm")->required();
  cmd->add_option("--embedding", o->embedding, "obsm key of the embedding")->capture_default_str();
  cmd->add_option("--out", o->output, "Output .h5ad: a copy of the input with obsm[--key-added] and uns['umap']")
      ->required();
  cmd->add_option("--key-added", o->key_added, "obsm key of the layout")->capture_default_str();
  cmd->add_option("--color", o->colors, "obs column(s) to draw scatter plots by, comma-separated")->delimiter(',');
  cmd->add_option("--plot-dir", o->plot_dir, "Folder of the plots (umap_<col>.svg); default: beside --out");
  cmd->add_option("--n-neighbors", o->umap.n_neighbors, "Neighbours of the graph, the cell itself included")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--min-dist", o->umap.min_dist, "Minimum distance between points in the layout")->capture_default_str();
  cmd->add_option("--spread", o->umap.spread, "Scale of the embedded points")->capture_default_str();
  cmd->add_option("--epochs", o->umap.n_epochs, "Optimisation epochs (0: 500 up to 10,000 cells, else 200)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--negative-sample-rate", o->umap.negative_sample_rate, "Negative samples per positive one")
      ->capture_default_str();
  cmd->add_option("--init", o->umap.init, "Start: spectral or random")->capture_default_str();
  cmd->add_option("--layout", o->umap.layout,
                  "Optimiser: sequential (umap-learn's order, one thread), parallel (all threads), auto")
      ->capture_default_str();
  cmd->add_option("--seed", o->umap.seed, "Random seed")->capture_default_str();
  cmd->add_flag("--json", *json, "Print the summary as JSON");
  cmd->callback([o, json, &global] {
    o->progress = !global.quiet;
    const nlohmann::json r = tasks::run_umap(*o);
    if (*json) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    std::cout << "umap: " << r["n_cells"].get<int64_t>() << " cells, " << r["dim_in"].get<int64_t>() << " dims -> "
              << o->output << " obsm['" << o->key_added << "'] (" << r["n_epochs"].get<int>() << " epochs, a "
              << eval::cell(r["a"].get<double>(), 4) << ", b " << eval::cell(r["b"].get<double>(), 4) << ", "
              << r["components"].get<int>() << " component(s); " << eval::cell(r["seconds"].get<double>(), 1) << " s)\n";
    for (const auto& p : r["plots"]) std::cout << "plot: " << p.get<std::string>() << "\n";
  });
}

}  // namespace scfm::cli
