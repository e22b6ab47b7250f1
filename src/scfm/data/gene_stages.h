// Gene-incremental learning's stages (scBenchmark's AAAI 2026 incremental_train.py and
// util_ours/utils.py): which vocabulary tokens each training stage may see.
//
// The vocabulary's gene tokens (special tokens excluded) are split into a base set and
// num_stages - 1 increments:
//   - "important" genes (per dataset, ranked by importance; see select_important) are held out of
//     the base and handed to the increments, aggregate_counts' share per stage;
//   - of the other genes a keyed random base_ratio share is the base, the rest is cut into
//     num_stages - 1 near-equal increments in that random order (the first increments one
//     larger when it does not divide: create_vocab_access_stages);
//   - cumulative (default): stage s sees the base and increments 1..s; incre_only: stage s sees
//     only increment s (and the base in stage 0); keep_base_id: every stage sees every non-held-out
//     gene (the held-out genes still enter in stages). Special tokens are in every stage.
// The original draws the permutation with numpy's global state after other draws (not
// reproducible from the seed alone); here it is keyed by the seed only. Every stage list is
// sorted, as the original sorts before use.
#pragma once

#include <cstdint>
#include <vector>

namespace scfm::data {

struct GeneStagesOptions {
  int num_stages = 3;          // including the base stage
  double base_ratio = 0.5;     // share of the non-held-out genes in the base
  bool incre_only = false;
  bool keep_base_id = false;
  uint64_t seed = 0;
};

struct GeneStages {
  std::vector<std::vector<int32_t>> visible;  // per stage: the token ids it trains on (sorted)
  std::vector<std::vector<int32_t>> added;    // per stage: the gene ids first seen there (stage 0: the base)
};

// genes: the vocabulary's gene ids; specials: the special token ids (in every stage);
// held_out: important genes kept out of the base, in the order they are handed out;
// held_per_stage: how many of them each increment gets (size num_stages - 1; empty = an even
// share). Throws scfm::Error on num_stages < 1, base_ratio outside (0, 1], more held-out genes asked
// for than given, or held-out ids that are not genes.
GeneStages make_gene_stages(const std::vector<int32_t>& genes, const std::vector<int32_t>& specials,
                            const std::vector<int32_t>& held_out, const std::vector<int64_t>& held_per_stage,
                            const GeneStagesOptions& options);

// scBenchmark's select_exclude_1102 rank rules over per-dataset importance rankings (gene ids,
// most important first): each list is cut to its first top_n; a gene in several lists is
//   removed everywhere       when its best position > keep_rank2, or when it is < keep_rank1 in
//                            two or more lists;
//   kept in its best list    when exactly one list has it < keep_rank1;
//   kept where it first appears in [keep_rank1, keep_rank2]  otherwise.
// Returns the surviving genes list after list (the held-out order) and each list's count.
struct ImportantGenes {
  std::vector<int32_t> genes;
  std::vector<int64_t> per_list;
};
ImportantGenes select_important(const std::vector<std::vector<int32_t>>& rankings, int64_t top_n, int64_t keep_rank1,
                                int64_t keep_rank2);

// aggregate_counts: the per-list counts summed into `stages` near-equal consecutive groups.
std::vector<int64_t> aggregate_counts(const std::vector<int64_t>& counts, int stages);

}  // namespace scfm::data
