// scfm grn programs --model DIR (--genes A,B,... | --in X.h5ad [--hvg N]) --out DIR
#include <fstream>
#include <iostream>

#include "commands.h"
#include "scfm/tasks/grn.h"
#include "scfm/util/error.h"

namespace scfm::cli {
namespace {

// --genes takes names separated by commas, or @FILE with one name per line.
std::vector<std::string> gene_list(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    if (!a.empty() && a[0] == '@') {
      std::ifstream f(a.substr(1));
      if (!f) throw Error(a.substr(1) + ": cannot open the gene list (--genes @FILE)");
      for (std::string line; std::getline(f, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) out.push_back(line);
      }
    } else if (!a.empty()) {
      out.push_back(a);
    }
  }
  return out;
}

}  // namespace

void add_grn(CLI::App& app, GlobalOptions&) {
  auto* cmd = app.add_subcommand("grn", "Gene networks: programs from the model's gene embeddings (scGPT's GRN tutorial)");
  cmd->require_subcommand(1);
  auto* pr = cmd->add_subcommand("programs", "Gene programs: cosine kNN graph of gene embeddings, Leiden, metagene scores per cell");
  auto o = std::make_shared<tasks::GrnProgramsOptions>();
  auto genes = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  pr->add_option("--model", o->model_dir, "Run folder or scGPT checkpoint folder")->required();
  pr->add_option("--out", o->out_dir, "Output folder: results.json/md/csv, genes.csv, group_scores.csv, heatmap.svg")->required();
  pr->add_option("--genes", *genes, "Genes (comma-separated, or @FILE one per line)")->delimiter(',');
  pr->add_option("--in", o->input, "Dataset (.h5ad, counts in X or --layer): its genes, and metagene scores per cell");
  pr->add_option("--gene-col", o->gene_col, "var column holding gene names (default: the var index)");
  pr->add_option("--layer", o->layer, "Read this layer instead of X");
  pr->add_option("--hvg", o->hvg, "Use the N most variable genes of --in (seurat_v3 on counts); 0 = all")->capture_default_str();
  pr->add_option("--group-col", o->group_col, "obs column for the per-group score table and heat map (default: cell_type if present)");
  pr->add_option("--write-h5ad", o->write_h5ad, "Copy of --in with the scores in obsm[--key] and the programs in uns");
  pr->add_option("--key", o->key, "obsm key of the scores")->capture_default_str();
  pr->add_option("--k", o->n_neighbors, "Neighbours per gene, the gene itself counted")->capture_default_str();
  pr->add_option("--resolution", o->resolution, "Leiden resolution (scGPT's tutorial: 40)")->capture_default_str();
  pr->add_option("--min-size", o->min_size, "Smallest community kept as a program")->capture_default_str();
  pr->add_option("--seed", o->seed, "Leiden's seed")->capture_default_str();
  pr->add_option("--vectors", o->vectors,
                 "Gene vectors: model (its gene embeddings) or correlation (the baseline: each gene's standardised "
                 "expression over the cells of --in)")
      ->capture_default_str()
      ->check(CLI::IsMember({"model", "correlation"}));
  pr->add_option("--truth-col", o->truth_col, "var column of known programs (integers, -1 = none; scfm simulate's 'module'): ARI reported");
  pr->add_flag("--allow-partial", o->allow_partial, "Load a checkpoint with missing or unexpected keys (reported)");
  pr->add_flag("--json", *json, "Print results.json to stdout");
  pr->callback([o, genes, json] {
    o->genes = gene_list(*genes);
    const nlohmann::json r = tasks::grn_programs(*o);
    if (*json) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    std::cout << "grn programs: " << r["n_genes"] << " genes -> " << r["n_programs"] << " programs (" << r["genes_in_programs"]
              << " genes in them, " << r["n_communities"] << " communities)";
    if (r.contains("truth"))
      std::cout << "; ARI vs " << o->truth_col << ": " << r["truth"]["ari_known_genes"].get<double>() << " (known genes), "
                << r["truth"]["ari_all_genes"].get<double>() << " (all genes)";
    std::cout << " -> " << o->out_dir << "\n";
  });
}

}  // namespace scfm::cli
