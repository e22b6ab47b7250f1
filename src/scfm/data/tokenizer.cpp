#include "scfm/data/tokenizer.h"

#include <algorithm>
#include <unordered_set>

#include "scfm/util/error.h"

namespace scfm::data {

void validate(const TokenizerOptions& o) {
  if (o.pad_id < 0) throw Error("tokenizer: pad_id is not set (vocab[\"<pad>\"])");
  if (o.append_cls && o.cls_id < 0) throw Error("tokenizer: cls_id is not set (vocab[\"<cls>\"]) but append_cls is on");
  if (o.max_len < (o.append_cls ? 2 : 1))
    throw Error("tokenizer: max_len must be >= " + std::string(o.append_cls ? "2 with <cls>" : "1") + ", got " +
                std::to_string(o.max_len));
  if (o.include_zero_gene && o.genes.empty())
    throw Error("tokenizer: include_zero_gene needs a gene panel (genes); the store holds only non-zero genes");
  std::unordered_set<int32_t> seen;
  for (int32_t g : o.genes) {
    if (g < 0) throw Error("tokenizer: gene panel holds a negative id " + std::to_string(g));
    if (!seen.insert(g).second) throw Error("tokenizer: gene panel holds id " + std::to_string(g) + " twice");
  }
}

namespace {

// Uniform k of n in draw order.
std::vector<int64_t> uniform_choice(RandomStream& rs, int64_t n, int64_t k, bool numpy_choice) {
  if (numpy_choice) return numpy_choice_without_replacement(rs, n, k);
  std::vector<int64_t> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[i] = i;
  for (int64_t i = 0; i < k; ++i) {
    const uint64_t span = static_cast<uint64_t>(n - 1 - i);
    int64_t j;
    if (span <= UINT32_MAX) {
      j = i + random_interval(rs, static_cast<uint32_t>(span));
    } else {
      j = i + static_cast<int64_t>(rs.uniform() * static_cast<double>(span + 1));
      j = std::min<int64_t>(j, n - 1);
    }
    std::swap(x[i], x[j]);
  }
  x.resize(static_cast<size_t>(k));
  return x;
}

}  // namespace

TokenizedCell tokenize_cell(const int32_t* ids, const float* values, int64_t n, const TokenizerOptions& o,
                            RandomStream& rs) {
  TokenizedCell out;
  std::vector<int32_t> cand_genes;
  std::vector<float> cand_values;
  if (o.genes.empty()) {
    cand_genes.assign(ids, ids + n);
    cand_values.assign(values, values + n);
  } else {
    cand_genes.reserve(o.genes.size());
    cand_values.reserve(o.genes.size());
    for (int32_t g : o.genes) {
      const int32_t* it = std::lower_bound(ids, ids + n, g);
      const bool present = it != ids + n && *it == g;
      const float v = present ? values[it - ids] : 0.0f;
      if (v != 0.0f || o.include_zero_gene) {
        cand_genes.push_back(g);
        cand_values.push_back(v);
      }
    }
  }
  const int64_t m = static_cast<int64_t>(cand_genes.size());
  const int64_t offset = o.append_cls ? 1 : 0;
  out.n_candidates = m + offset;
  const int64_t keep = o.max_len - offset;  // candidates that fit

  std::vector<int64_t> chosen;  // candidate indices in kept order
  if (m > keep) {
    bool weighted = false;
    if (o.use_weighted_sampling) weighted = rs.uniform() < 0.5;
    if (weighted) {
      const float mn = *std::min_element(cand_values.begin(), cand_values.end());
      std::vector<double> w(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i) w[i] = static_cast<double>(cand_values[i] - mn + 1e-5f);
      chosen = weighted_sample_without_replacement(rs, w, keep);
    } else {
      chosen = uniform_choice(rs, m, keep, o.numpy_choice);
    }
    out.sampled_idx.reserve(static_cast<size_t>(o.max_len));
    if (o.append_cls) out.sampled_idx.push_back(0);
    for (int64_t c : chosen) out.sampled_idx.push_back(c + offset);
  }
  const int64_t len = (m > keep ? keep : m) + offset;
  out.genes.reserve(static_cast<size_t>(len));
  out.values.reserve(static_cast<size_t>(len));
  if (o.append_cls) {
    out.genes.push_back(o.cls_id);
    out.values.push_back(o.cls_value);
  }
  if (m > keep) {
    for (int64_t c : chosen) {
      out.genes.push_back(cand_genes[c]);
      out.values.push_back(cand_values[c]);
    }
  } else {
    out.genes.insert(out.genes.end(), cand_genes.begin(), cand_genes.end());
    out.values.insert(out.values.end(), cand_values.begin(), cand_values.end());
  }
  return out;
}

}  // namespace scfm::data
