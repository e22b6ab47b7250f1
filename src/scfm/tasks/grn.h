// scfm grn programs: gene programs from a model's gene embeddings, as scGPT's GRN tutorial
// (Tutorial_GRN: GeneEmbedding, get_metagenes, score_metagenes), on eval/gene_programs.
//
// Genes: --genes (names; all must be in the model's vocabulary), or the genes of --in matched to
// the vocabulary (--hvg N: the N most variable of them, scanpy's seurat_v3 on the counts), or both
// (the listed genes, which must then also be in the file). A gene's vector is the model's
// data-independent embedding of its token (model.encoder(gene_ids): scGPT's embedding + LayerNorm;
// PretrainModel::gene_embeddings). Programs: cosine kNN graph, Leiden, communities >= --min-size.
//
// With --in, each cell gets one score per program (scanpy's score_genes on log1p(normalize_total
// 1e4) of the counts, the program genes against controls of similar mean among the selected
// genes): written to obsm[--key] of a copy of the input (--write-h5ad), with the programs in
// uns['scfm_grn_programs']; with a group column, the mean score per group is a table and a heat
// map (scores standardised per program across groups).
//
// OUT (written whole through a temporary folder: an error leaves the previous OUT or none):
//   results.json / results.md / results.csv   settings, the programs (results.csv: one per row),
//                                             the group table
//   genes.csv        gene, community, program (-1: in a community smaller than --min-size)
//   group_scores.csv (with groups) group x program mean scores
//   heatmap.svg      (with groups) the same, standardised per program
// Deterministic: gene embeddings do not depend on cells; the graph, Leiden (seeded) and the
// scores are the same for any thread count.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::tasks {

struct GrnProgramsOptions {
  std::string model_dir;
  std::string out_dir;
  std::vector<std::string> genes;  // --genes: names (empty: from --in)
  std::string input;               // --in X.h5ad (counts in X or --layer)
  std::string gene_col, layer;
  std::string group_col;           // obs column for the per-group table ("" = cell_type if present)
  std::string write_h5ad;          // copy of --in with obsm[key] ("" = none)
  std::string key = "X_grn_programs";
  int64_t hvg = 0;                 // 0 = all matched genes
  int64_t n_neighbors = 15;
  double resolution = 40;          // scGPT's tutorial (Louvain there)
  int64_t min_size = 5;
  uint64_t seed = 0;
  // "model": the model's gene embeddings; "correlation": the baseline, each gene's standardised
  // log1p(normalize_total) expression over the cells of --in (cosine = Pearson correlation)
  std::string vectors = "model";
  std::string truth_col;           // var column of known programs (ints, -1 = none): ARI reported
  bool allow_partial = false;
};

// Throws scfm::Error (one line: genes missing from the vocabulary or the file listed together, a
// group column that does not exist, ...) before anything is written.
nlohmann::json grn_programs(const GrnProgramsOptions& options);

}  // namespace scfm::tasks
