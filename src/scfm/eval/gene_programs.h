// Gene programs: groups of genes that belong together, found as scGPT's GRN tutorial finds them
// (GeneEmbedding.get_adata + get_metagenes): one vector per gene, a kNN graph of the vectors by
// cosine similarity, community detection, and the communities of at least `min_size` genes kept as
// programs. scGPT runs scanpy's neighbors (15 neighbours, UMAP connectivities) and Louvain on the
// model's gene embeddings; scfm runs the same graph (eval::exact_knn on L2-normalised rows, whose
// Euclidean order is the cosine order, then eval::umap_connectivities) and Leiden (eval::leiden),
// which optimises the same modularity without Louvain's badly connected communities.
//
// The vectors can be anything per gene: a model's gene embeddings (tasks/grn) or, as the baseline
// the docs compare against, each gene's standardised expression over the cells
// (expression_profiles), whose cosine similarity is the Pearson correlation of the genes.
//
// Metagene scores per cell follow scanpy 1.9's sc.tl.score_genes (what scGPT's score_metagenes
// calls): the mean expression of the program's genes minus that of a reference set drawn from the
// genes with similar mean expression (genes binned by rank of their mean into n_bins - 1 equal
// groups; ctrl_size genes drawn per bin that holds a program gene, the program's own genes then
// removed), drawn with numpy's legacy RandomState(seed) shuffle in the bins' sorted order.
// No LibTorch, no files.
#pragma once

#include <cstdint>
#include <vector>

#include "scfm/eval/neighbors.h"
#include "scfm/io/sparse.h"

namespace scfm::eval {

struct GeneProgramOptions {
  int64_t n_neighbors = 15;  // scanpy's default, the gene itself counted
  double resolution = 1;     // Leiden's resolution (scGPT's tutorial: Louvain at 40)
  int64_t min_size = 5;      // smallest community kept as a program (scGPT's tutorial: 5)
  uint64_t seed = 0;         // Leiden's seed
};

struct GenePrograms {
  std::vector<int32_t> community;              // per gene: its Leiden community
  int32_t n_communities = 0;
  double modularity = 0;
  std::vector<std::vector<int64_t>> programs;  // gene rows per program, ascending; largest first
                                               // (ties: the one whose first gene comes first)
  std::vector<int32_t> program_of;             // per gene: its program, -1 if its community is small
};

// Programs of the genes whose vectors are the rows of `genes` (one row per gene). Throws
// scfm::Error when a row is all zeros or not finite (it has no direction), when there are fewer
// than 2 genes, or on options out of range.
GenePrograms gene_programs(const EmbeddingView& genes, const GeneProgramOptions& options);

// The baseline's vectors: for each listed column (gene) of `x` (cells x genes, e.g. log1p of
// normalised counts), its values over the cells minus their mean, divided by their norm, as a
// row of a columns.size() x x.n_rows matrix. Cosine similarity of two rows = Pearson correlation
// of the genes. A gene constant over the cells gets a zero row (gene_programs refuses it; callers
// drop such genes first: `constant` lists them when given).
std::vector<float> expression_profiles(const io::CsrMatrix& x, const std::vector<int32_t>& columns,
                                       std::vector<int32_t>* constant = nullptr);

struct ScoreGenesOptions {
  int64_t ctrl_size = 50;
  int64_t n_bins = 25;
  uint32_t seed = 0;  // scanpy's random_state
};

// sc.tl.score_genes for each gene set in `sets` (columns of x): each set scored as one scanpy call
// with random_state = seed (so the generator is re-seeded per set, as scanpy re-seeds per call).
// Returns sets.size() x x.n_rows scores (row-major, one row per set; NaN when no reference gene
// is left). `control` (when given) receives each set's reference genes, ascending. Throws
// scfm::Error on an empty set, a column out of range or too few genes for the bins.
std::vector<double> score_genes(const io::CsrMatrix& x, const std::vector<std::vector<int32_t>>& sets,
                                const ScoreGenesOptions& options = {},
                                std::vector<std::vector<int32_t>>* control = nullptr);

}  // namespace scfm::eval
