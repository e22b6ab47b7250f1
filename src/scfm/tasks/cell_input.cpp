#include "scfm/tasks/cell_input.h"

#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>

#include "scfm/data/random.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/pp/binning.h"
#include "scfm/pp/normalize.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace {

struct Token {
  int32_t id;
  float value;
};

// One cell's (vocab id, raw value) pairs for its non-zero matched genes, in id order.
std::vector<Token> raw_tokens(const io::CsrMatrix& block, int64_t r, const std::vector<int32_t>& var_to_id) {
  std::vector<Token> t;
  for (int64_t k = block.indptr[r]; k < block.indptr[r + 1]; ++k) {
    const int32_t id = var_to_id[block.indices[k]];
    if (id >= 0 && block.data[k] != 0) t.push_back({id, block.data[k]});
  }
  std::sort(t.begin(), t.end(), [](const Token& a, const Token& b) { return a.id < b.id; });
  std::vector<Token> merged;
  for (const Token& x : t) {
    if (!merged.empty() && merged.back().id == x.id)
      merged.back().value += x.value;
    else
      merged.push_back(x);
  }
  return merged;
}

// One cell's bins (pp::binning on a one-row matrix: columns `cols`, values `vals`), keyed by
// (seed, cell) with `keyed`, else by the deterministic rule.
std::vector<int32_t> cell_bins(std::vector<int32_t> cols, std::vector<float> vals, int64_t n_cols, int64_t n_bins,
                               bool keyed, uint64_t seed, int64_t cell) {
  io::CsrMatrix row;
  row.n_rows = 1;
  row.n_cols = n_cols;
  row.indptr = {0, static_cast<int64_t>(cols.size())};
  row.indices = std::move(cols);
  row.data = std::move(vals);
  pp::BinningOptions bo;
  bo.n_bins = static_cast<int>(n_bins);
  bo.mode = keyed ? pp::BinningMode::Keyed : pp::BinningMode::Deterministic;
  bo.seed = seed;
  return pp::binning(row, bo, cell).bins;
}

}  // namespace

CellInput::CellInput(const io::Vocab& vocab, const model::InputConventions& conv, std::vector<int32_t> var_to_id,
                     int64_t max_len, bool sample, uint64_t seed)
    : pad_id_(vocab.pad_id()),
      cls_id_(vocab.cls_id()),
      n_vocab_(vocab.size()),
      conv_(conv),
      var_to_id_(std::move(var_to_id)),
      max_len_(max_len),
      sample_(sample),
      seed_(seed) {}

CellTokens CellInput::tokens(const io::CsrMatrix& block, const std::vector<int64_t>& rows,
                             const std::vector<int64_t>& cells) const {
  const int64_t bn = static_cast<int64_t>(rows.size());
  std::vector<std::vector<Token>> toks(rows.size());
  int64_t longest = 1;
  const size_t keep = static_cast<size_t>(max_len_ - 1);
  for (int64_t i = 0; i < bn; ++i) {
    const int64_t cell = cells[i];
    std::vector<Token> t = raw_tokens(block, rows[i], var_to_id_);
    if (conv_.binned) {
      std::vector<int32_t> cols;
      std::vector<float> vals;
      for (const Token& x : t) {
        cols.push_back(x.id);
        vals.push_back(x.value);
      }
      const std::vector<int32_t> bins = cell_bins(std::move(cols), std::move(vals), n_vocab_, conv_.n_bins, sample_, seed_, cell);
      for (size_t k = 0; k < t.size(); ++k) t[k].value = static_cast<float>(bins[k]);
    } else {
      std::vector<float> v(t.size());
      for (size_t k = 0; k < t.size(); ++k) v[k] = t[k].value;
      pp::log1p_normalize_cell(v.data(), v.size());
      for (size_t k = 0; k < t.size(); ++k) t[k].value = v[k];
    }
    if (t.size() > keep) {
      if (sample_) {
        // scGPT samples uniformly without replacement; keyed by (seed, cell)
        std::vector<std::pair<uint64_t, size_t>> r(t.size());
        for (size_t k = 0; k < t.size(); ++k)
          r[k] = {data::splitmix64((seed_ * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(cell) << 20) ^ k), k};
        std::sort(r.begin(), r.end());
        std::vector<Token> s;
        for (size_t k = 0; k < keep; ++k) s.push_back(t[r[k].second]);
        t = s;
      } else {
        std::stable_sort(t.begin(), t.end(), [](const Token& a, const Token& b) { return a.value > b.value; });
        t.resize(keep);
      }
      std::sort(t.begin(), t.end(), [](const Token& a, const Token& b) { return a.id < b.id; });
    }
    longest = std::max<int64_t>(longest, static_cast<int64_t>(t.size()) + 1);
    toks[i] = std::move(t);
  }
  std::vector<int64_t> genes(static_cast<size_t>(bn * longest), pad_id_);
  std::vector<float> values(static_cast<size_t>(bn * longest), conv_.pad_value);
  std::vector<uint8_t> pad(static_cast<size_t>(bn * longest), 1);
  for (int64_t i = 0; i < bn; ++i) {
    genes[i * longest] = cls_id_;
    values[i * longest] = conv_.cls_value;
    pad[i * longest] = 0;
    for (size_t k = 0; k < toks[i].size(); ++k) {
      genes[i * longest + 1 + k] = toks[i][k].id;
      values[i * longest + 1 + k] = toks[i][k].value;
      pad[i * longest + 1 + k] = 0;
    }
  }
  CellTokens out;
  out.genes = at::from_blob(genes.data(), {bn, longest}, at::kLong).clone();
  out.values = at::from_blob(values.data(), {bn, longest}, at::kFloat).clone();
  out.padding = at::from_blob(pad.data(), {bn, longest}, at::kByte).to(at::kBool);
  return out;
}

CellTokens CellInput::panel_tokens(const io::CsrMatrix& block, const std::vector<int64_t>& rows,
                                   const std::vector<int64_t>& cells, const std::vector<int32_t>& panel) const {
  const int64_t bn = static_cast<int64_t>(rows.size()), T = static_cast<int64_t>(panel.size()) + 1;
  std::vector<int32_t> slot(static_cast<size_t>(n_vocab_), -1);  // vocab id -> panel position
  for (size_t k = 0; k < panel.size(); ++k) {
    if (panel[k] < 0 || panel[k] >= n_vocab_ || slot[panel[k]] >= 0)
      throw Error("panel tokens: panel ids must be distinct vocabulary ids; id " + std::to_string(panel[k]) + " is not");
    slot[panel[k]] = static_cast<int32_t>(k);
  }
  std::vector<int64_t> genes(static_cast<size_t>(bn * T));
  std::vector<float> values(static_cast<size_t>(bn * T), 0.0f);
  for (int64_t i = 0; i < bn; ++i) {
    genes[i * T] = cls_id_;
    values[i * T] = conv_.cls_value;
    for (int64_t k = 1; k < T; ++k) genes[i * T + k] = panel[k - 1];
    const std::vector<Token> t = raw_tokens(block, rows[i], var_to_id_);
    float* v = values.data() + i * T + 1;
    if (conv_.binned) {
      // the panel's non-zero counts, in panel order
      std::vector<std::pair<int32_t, float>> nz;
      for (const Token& x : t)
        if (slot[x.id] >= 0) nz.emplace_back(slot[x.id], x.value);
      std::sort(nz.begin(), nz.end());
      std::vector<int32_t> cols;
      std::vector<float> vals;
      for (const auto& [k, x] : nz) {
        cols.push_back(k);
        vals.push_back(x);
      }
      const std::vector<int32_t> bins = cell_bins(std::move(cols), std::move(vals), T - 1, conv_.n_bins, sample_, seed_, cells[i]);
      for (size_t k = 0; k < nz.size(); ++k) v[nz[k].first] = static_cast<float>(bins[k]);
    } else {
      std::vector<float> x(t.size());
      for (size_t k = 0; k < t.size(); ++k) x[k] = t[k].value;
      pp::log1p_normalize_cell(x.data(), x.size());
      for (size_t k = 0; k < t.size(); ++k)
        if (slot[t[k].id] >= 0) v[slot[t[k].id]] = x[k];
    }
  }
  CellTokens out;
  out.genes = at::from_blob(genes.data(), {bn, T}, at::kLong).clone();
  out.values = at::from_blob(values.data(), {bn, T}, at::kFloat).clone();
  out.padding = at::zeros({bn, T}, at::kBool);
  return out;
}

io::GeneMatch match_model_genes(const io::Vocab& vocab, const io::AnnData& data, const std::string& gene_col,
                                const std::string& path, const char* verb) {
  return match_model_genes(vocab, io::gene_names(data, gene_col), path, verb);
}

io::GeneMatch match_model_genes(const io::Vocab& vocab, const std::vector<std::string>& genes, const std::string& path,
                                const char* verb) {
  io::GeneMatch match = io::match_gene_names(vocab, genes);
  if (match.n_matched == 0)
    throw Error(std::string(verb) + ": none of the " + std::to_string(genes.size()) + " genes of " + path +
                " is in the model's vocabulary; use --gene-col to name the var column with gene symbols");
  return match;
}

}  // namespace scfm::tasks
