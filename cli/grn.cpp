// scfm grn programs --model DIR (--genes A,B,... | --in X.h5ad [--hvg N]) --out DIR
// scfm grn attention --model DIR --in X.h5ad --group-col C [--genes ... | --hvg N] [--compare A,B] --out DIR
#include <fstream>
#include <iostream>

#include "commands.h"
#include "scfm/tasks/grn.h"
#include "scfm/tasks/grn_attention.h"
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
  auto* cmd = app.add_subcommand("grn", "Gene networks: programs from gene embeddings, networks from attention (scGPT's GRN tutorials)");
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

  auto* at = cmd->add_subcommand("attention", "Gene-gene network from the last layer's attention, averaged per group (scGPT's attention GRN)");
  auto a = std::make_shared<tasks::GrnAttentionOptions>();
  auto a_genes = std::make_shared<std::vector<std::string>>();
  auto a_json = std::make_shared<bool>(false);
  at->add_option("--model", a->model_dir, "Run folder or scGPT checkpoint folder (transformer or scgpt)")->required();
  at->add_option("--in", a->input, "Dataset (.h5ad, counts in X or --layer)")->required();
  at->add_option("--group-col", a->group_col, "obs column: attention is averaged over the cells of each group")->required();
  at->add_option("--out", a->out_dir, "Output folder: results.json/md, edges.csv, diff_edges.csv, attention.npy, network.svg")->required();
  at->add_option("--genes", *a_genes, "The gene panel (comma-separated, or @FILE one per line); default: the genes of --in")->delimiter(',');
  at->add_option("--hvg", a->hvg, "Use the N most variable genes of --in (seurat_v3 on counts); 0 = all")->capture_default_str();
  at->add_option("--gene-col", a->gene_col, "var column holding gene names (default: the var index)");
  at->add_option("--layer", a->layer, "Read this layer instead of X");
  at->add_option("--groups", a->groups, "Only these groups (comma-separated); default: every group")->delimiter(',');
  at->add_option("--compare", a->compare, "Two groups A,B: edges of the difference A - B (e.g. perturbed,control)")->delimiter(',');
  at->add_option("--attention-layer", a->attention_layer, "Encoder layer whose attention is read (negative: from the end)")->capture_default_str();
  at->add_option("--normalize", a->normalize, "rank (scGPT: by row, then by column) or softmax (attention probabilities)")
      ->capture_default_str()
      ->check(CLI::IsMember({"rank", "softmax"}));
  at->add_option("--top-k", a->top_k, "Targets kept per source gene in edges.csv")->capture_default_str();
  at->add_option("--max-cells", a->max_cells, "At most N cells per group (chosen by --seed); 0 = all")->capture_default_str();
  at->add_option("--network-edges", a->network_edges, "Edges drawn in network.svg")->capture_default_str();
  at->add_option("--seed", a->seed, "Key of the --max-cells choice")->capture_default_str();
  at->add_flag("--allow-partial", a->allow_partial, "Load a checkpoint with missing or unexpected keys (reported)");
  at->add_flag("--json", *a_json, "Print results.json to stdout");
  at->callback([a, a_genes, a_json] {
    a->genes = gene_list(*a_genes);
    const nlohmann::json r = tasks::grn_attention(*a);
    if (*a_json) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    std::cout << "grn attention: " << r["n_genes"] << " genes, " << r["groups"].size() << " groups, " << r["heads"]
              << " heads -> " << a->out_dir << "\n";
  });
}

}  // namespace scfm::cli
