// scfm grn attention: gene-gene networks from a model's self-attention, as scGPT's
// Tutorial_Attention_GRN computes them, on one fixed panel of genes.
//
// Every cell of --in is fed the same tokens: <cls> then the selected genes (--genes, or the genes
// of --in in the vocabulary, --hvg N of them), zeros included, valued as the model was trained
// (CellInput::panel_tokens). The encoder runs up to the chosen layer (--layer, default the last),
// whose in_proj gives q and k per head; s = q k^T / sqrt(D) over the panel's T = genes + 1 tokens.
//   rank (default, scGPT): each head's s rank-normalised by row (rank / T, ascending), that by
//        column (rank / T), then the mean over heads. Ranks are ordinal with ties broken by token
//        position (torch.argsort(stable=True)); the tutorial's unstable argsort breaks them
//        arbitrarily, and ties are common in the column step.
//   softmax: the attention probabilities softmax(s) by row, mean over heads.
// Per group of --group-col: the mean over its cells (all, or --max-cells chosen by a key of
// (seed, cell index)). The tutorial's first cell of each group is never added (its sum starts at
// zeros without it); here every cell counts.
//
// A[i][j] (genes, <cls> dropped): how much gene i's query attends to gene j's key. The tutorial
// reads a knocked-out gene's column as the genes it influences, so here an edge source -> target
// is j -> i with score A[i][j]; each source's top-k targets (itself excluded) are its edges.
// --compare A,B: the same on A - B (edges ranked by the increase).
//
// OUT (written whole through a temporary folder):
//   results.json / results.md   settings, groups (cells used), strongest edges
//   genes.csv                   index, gene (the order of the matrices)
//   attention.npy               float32 groups x genes x genes, the groups in results.json's order
//   edges.csv                   group, source, target, score, rank
//   diff_edges.csv              (--compare) source, target, difference, score_a, score_b, rank
//   network.svg                 the strongest --network-edges edges (of the difference with
//                               --compare, else of the first group)
// Deterministic: cells run one at a time (the batch never changes a cell's numbers) and are
// summed in cell order; the same output for any thread count.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::tasks {

struct GrnAttentionOptions {
  std::string model_dir, input, out_dir;
  std::string group_col;               // required
  std::vector<std::string> groups;     // groups to compute (empty: every group with cells)
  std::vector<std::string> compare;    // empty or two groups: the difference first - second
  std::vector<std::string> genes;      // --genes (empty: the file's, --hvg)
  std::string gene_col, layer;         // var column of gene names; counts layer
  int64_t hvg = 0;
  int64_t attention_layer = -1;        // encoder layer (negative: from the end)
  std::string normalize = "rank";      // rank | softmax
  int64_t top_k = 20;
  int64_t max_cells = 0;               // per group; 0 = all
  int64_t network_edges = 40;
  uint64_t seed = 0;
  bool allow_partial = false;
};

// Throws scfm::Error before anything is written: genes not in the vocabulary (listed together),
// a group that has no cells, a model without self-attention, a bad option.
nlohmann::json grn_attention(const GrnAttentionOptions& options);

// The per-cell step, for tests: logits H x T x T (row-major, one cell) -> the head-averaged
// normalised matrix T x T ("rank" or "softmax"), in double.
std::vector<double> normalise_attention(const float* logits, int64_t heads, int64_t tokens, const std::string& mode);

}  // namespace scfm::tasks
