#include "scfm/data/gene_stages.h"

#include <algorithm>
#include <map>
#include <set>

#include "scfm/data/random.h"
#include "scfm/util/error.h"

namespace scfm::data {
namespace {

std::vector<int32_t> sorted_union(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

}  // namespace

std::vector<int64_t> aggregate_counts(const std::vector<int64_t>& counts, int stages) {
  if (stages < 1) throw Error("aggregate_counts: stages must be >= 1");
  const size_t base = counts.size() / static_cast<size_t>(stages), rem = counts.size() % static_cast<size_t>(stages);
  std::vector<int64_t> out;
  size_t start = 0;
  for (int i = 0; i < stages; ++i) {
    const size_t end = start + base + (static_cast<size_t>(i) < rem ? 1 : 0);
    int64_t s = 0;
    for (size_t k = start; k < end; ++k) s += counts[k];
    out.push_back(s);
    start = end;
  }
  return out;
}

ImportantGenes select_important(const std::vector<std::vector<int32_t>>& rankings, int64_t top_n, int64_t k1, int64_t k2) {
  if (top_n < 0 || k1 < 0 || k2 < k1) throw Error("important genes: need top_n >= 0 and 0 <= keep_rank1 <= keep_rank2");
  std::vector<std::vector<int32_t>> lists;
  for (const auto& r : rankings) lists.emplace_back(r.begin(), r.begin() + std::min<int64_t>(top_n, static_cast<int64_t>(r.size())));
  std::vector<std::vector<bool>> keep;
  for (const auto& l : lists) keep.emplace_back(l.size(), true);
  std::map<int32_t, std::vector<std::pair<size_t, int64_t>>> where;  // gene -> (list, position), list order
  for (size_t i = 0; i < lists.size(); ++i)
    for (size_t p = 0; p < lists[i].size(); ++p) where[lists[i][p]].emplace_back(i, static_cast<int64_t>(p));
  for (const auto& [gene, pos] : where) {
    if (pos.size() < 2) continue;
    int64_t best = pos[0].second, below = 0;
    for (const auto& [l, p] : pos) {
      best = std::min(best, p);
      below += p < k1 ? 1 : 0;
    }
    if (best > k2 || (best < k1 && below >= 2)) {
      for (const auto& [l, p] : pos) keep[l][p] = false;
    } else if (best < k1) {  // exactly one list has it above keep_rank1: keep it there
      for (const auto& [l, p] : pos) keep[l][p] = p == best;
    } else {  // first occurrence within [keep_rank1, keep_rank2]
      bool first = true;
      for (const auto& [l, p] : pos) {
        keep[l][p] = first && p >= k1 && p <= k2;
        if (keep[l][p]) first = false;
      }
    }
  }
  ImportantGenes out;
  for (size_t i = 0; i < lists.size(); ++i) {
    int64_t n = 0;
    for (size_t p = 0; p < lists[i].size(); ++p)
      if (keep[i][p]) {
        out.genes.push_back(lists[i][p]);
        ++n;
      }
    out.per_list.push_back(n);
  }
  return out;
}

GeneStages make_gene_stages(const std::vector<int32_t>& genes_in, const std::vector<int32_t>& specials,
                            const std::vector<int32_t>& held_out, const std::vector<int64_t>& held_per_stage,
                            const GeneStagesOptions& o) {
  if (o.num_stages < 1) throw Error("gene stages: --stages must be >= 1 (the base stage included)");
  if (!(o.base_ratio > 0 && o.base_ratio <= 1)) throw Error("gene stages: base ratio must be in (0, 1]");
  std::vector<int32_t> genes = genes_in;
  std::sort(genes.begin(), genes.end());
  genes.erase(std::unique(genes.begin(), genes.end()), genes.end());
  const std::set<int32_t> held(held_out.begin(), held_out.end());
  if (held.size() != held_out.size()) throw Error("gene stages: a held-out gene is listed twice");
  for (int32_t g : held_out)
    if (!std::binary_search(genes.begin(), genes.end(), g))
      throw Error("gene stages: held-out id " + std::to_string(g) + " is not a gene of the vocabulary");
  const int increments = o.num_stages - 1;
  std::vector<int64_t> per = held_per_stage;
  if (increments == 0) {
    per.clear();
  } else if (per.empty()) {
    per.assign(static_cast<size_t>(increments), static_cast<int64_t>(held_out.size()) / increments);
    for (size_t i = 0; i < held_out.size() % static_cast<size_t>(increments); ++i) ++per[i];
  } else if (static_cast<int>(per.size()) != increments) {
    throw Error("gene stages: " + std::to_string(per.size()) + " held-out counts for " + std::to_string(increments) +
                " increments");
  }
  int64_t asked = 0;
  for (int64_t c : per) asked += c;
  if (asked > static_cast<int64_t>(held_out.size()))
    throw Error("gene stages: the stages ask for " + std::to_string(asked) + " held-out genes, " +
                std::to_string(held_out.size()) + " given");

  std::vector<int32_t> normal;
  for (int32_t g : genes)
    if (!held.count(g)) normal.push_back(g);
  GeneStages s;
  std::vector<std::vector<int32_t>> inc(static_cast<size_t>(increments));
  std::vector<int32_t> base;
  if (o.keep_base_id || increments == 0) {
    base = normal;
    if (increments == 0) base = genes;  // one stage: every gene
  } else {
    const std::vector<int64_t> perm = keyed_permutation(static_cast<int64_t>(normal.size()), o.seed, 0, -7);
    const size_t nb = static_cast<size_t>(static_cast<double>(normal.size()) * o.base_ratio);
    for (size_t k = 0; k < nb; ++k) base.push_back(normal[perm[k]]);
    const size_t rest = normal.size() - nb, each = rest / increments, rem = rest % increments;
    size_t at = nb;
    for (int i = 0; i < increments; ++i) {
      const size_t n = each + (static_cast<size_t>(i) < rem ? 1 : 0);
      for (size_t k = 0; k < n; ++k) inc[i].push_back(normal[perm[at + k]]);
      at += n;
    }
  }
  size_t h = 0;
  for (int i = 0; i < increments; ++i) {
    inc[i].insert(inc[i].end(), held_out.begin() + h, held_out.begin() + h + per[i]);
    h += static_cast<size_t>(per[i]);
  }
  s.added.push_back(sorted_union(base, {}));
  for (auto& v : inc) s.added.push_back(sorted_union(v, {}));
  s.visible.push_back(sorted_union(s.added[0], specials));
  for (int i = 1; i <= increments; ++i) {
    if (o.incre_only && !o.keep_base_id)
      s.visible.push_back(sorted_union(s.added[i], specials));
    else if (o.incre_only)  // keep_base_id: the base genes plus this stage's held-out slice
      s.visible.push_back(sorted_union(sorted_union(s.added[0], specials), s.added[i]));
    else
      s.visible.push_back(sorted_union(s.visible.back(), s.added[i]));
  }
  return s;
}

}  // namespace scfm::data
