#include "scfm/tasks/embed.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "scfm/data/random.h"
#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/pp/binning.h"
#include "scfm/util/error.h"

namespace scfm::tasks {
namespace {

struct Token {
  int32_t id;
  float value;
};

// One cell's tokens after gene matching: (vocab id, raw value) of its non-zero matched genes.
std::vector<Token> cell_tokens(const io::CsrMatrix& block, int64_t r, const std::vector<int32_t>& var_to_id) {
  std::vector<Token> t;
  for (int64_t k = block.indptr[r]; k < block.indptr[r + 1]; ++k) {
    const int32_t id = var_to_id[block.indices[k]];
    if (id >= 0 && block.data[k] != 0) t.push_back({id, block.data[k]});
  }
  // genes that map to the same vocab id are summed
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

}  // namespace

nlohmann::json embed(const EmbedOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  auto model = model::load_pretrain_model(o.model_dir, o.allow_partial);
  const nlohmann::json args = model->args();
  const model::InputConventions conv = model::input_conventions(args);
  io::Vocab vocab = io::Vocab::load(o.model_dir + "/vocab.json");
  const int64_t max_len = std::min<int64_t>(o.max_length, std::max<int64_t>(2, o.max_length));
  if (max_len < 2) throw Error("embed: --max-length must be at least 2 (<cls> and one gene)");

  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  io::AnnData meta = io::read_h5ad(o.input, ro);
  io::GeneMatch match = io::match_genes(vocab, meta, o.gene_col);
  if (match.n_matched == 0)
    throw Error("embed: none of the " + std::to_string(meta.n_vars()) + " genes of " + o.input +
                " is in the model's vocabulary; use --gene-col to name the var column with gene symbols");

  io::H5adStreamOptions so;
  so.layer = o.layer;
  io::H5adMatrixReader reader(o.input, so);
  const int64_t n = reader.n_rows();
  torch::NoGradGuard no_grad;
  model->module().eval();
  int64_t width = -1;
  std::vector<float> emb;
  const float cls_value = conv.cls_value;

  for (int64_t start = 0; start < n; start += o.block_cells) {
    const int64_t count = std::min(o.block_cells, n - start);
    io::CsrMatrix block = reader.read_rows(start, count);
    for (int64_t b0 = 0; b0 < count; b0 += o.batch_size) {
      const int64_t bn = std::min(o.batch_size, count - b0);
      std::vector<std::vector<Token>> cells(static_cast<size_t>(bn));
      int64_t longest = 1;
      for (int64_t i = 0; i < bn; ++i) {
        const int64_t cell = start + b0 + i;
        std::vector<Token> t = cell_tokens(block, b0 + i, match.var_to_id);
        // values: log1p of normalised counts (scBenchmark / scfm runs) or bins of the counts (scGPT)
        if (conv.binned) {
          io::CsrMatrix row;
          row.n_rows = 1;
          row.n_cols = vocab.size();
          for (auto& x : t) {
            row.indices.push_back(x.id);
            row.data.push_back(x.value);
          }
          row.indptr = {0, static_cast<int64_t>(t.size())};
          pp::BinningOptions bo;
          bo.n_bins = static_cast<int>(conv.n_bins);
          bo.mode = o.sample ? pp::BinningMode::Keyed : pp::BinningMode::Deterministic;
          bo.seed = o.seed;
          pp::BinnedMatrix bins = pp::binning(row, bo, cell);
          for (size_t k = 0; k < t.size(); ++k) t[k].value = static_cast<float>(bins.bins[k]);
        } else {
          double total = 0;
          for (auto& x : t) total += x.value;
          if (total > 0)
            for (auto& x : t) x.value = static_cast<float>(std::log1p(x.value * 1e4 / total));
        }
        const size_t keep = static_cast<size_t>(max_len - 1);
        if (t.size() > keep) {
          if (o.sample) {
            // scGPT samples uniformly without replacement; keyed by (seed, cell)
            std::vector<std::pair<uint64_t, size_t>> r(t.size());
            for (size_t k = 0; k < t.size(); ++k)
              r[k] = {data::splitmix64((o.seed * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(cell) << 20) ^ k), k};
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
        cells[i] = std::move(t);
      }
      std::vector<int64_t> genes(static_cast<size_t>(bn * longest), vocab.pad_id());
      std::vector<float> values(static_cast<size_t>(bn * longest), conv.pad_value);
      std::vector<uint8_t> pad(static_cast<size_t>(bn * longest), 1);
      for (int64_t i = 0; i < bn; ++i) {
        genes[i * longest] = vocab.cls_id();
        values[i * longest] = cls_value;
        pad[i * longest] = 0;
        for (size_t k = 0; k < cells[i].size(); ++k) {
          genes[i * longest + 1 + k] = cells[i][k].id;
          values[i * longest + 1 + k] = cells[i][k].value;
          pad[i * longest + 1 + k] = 0;
        }
      }
      at::Tensor g = at::from_blob(genes.data(), {bn, longest}, at::kLong).clone();
      at::Tensor v = at::from_blob(values.data(), {bn, longest}, at::kFloat).clone();
      at::Tensor p = at::from_blob(pad.data(), {bn, longest}, at::kByte).to(at::kBool);
      at::Tensor e = model->forward(g, v, p).cell_emb.to(at::kFloat).contiguous();
      if (o.normalize_l2) e = e / at::linalg_vector_norm(e, 2, {1}, true).clamp_min(1e-12);
      if (width < 0) {
        width = e.size(1);
        emb.reserve(static_cast<size_t>(n * width));
      }
      emb.insert(emb.end(), e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
    }
  }
  if (width < 0) width = 0;

  nlohmann::json settings = {{"model", o.model_dir}, {"structure", model->structure()}, {"key", o.key},
                             {"max_length", max_len}, {"gene_selection", o.sample ? "random (keyed by seed, cell)" : "top expressed"},
                             {"normalize_l2", o.normalize_l2}, {"genes_matched", match.n_matched},
                             {"genes_unmatched", match.n_unmatched}, {"seed", o.seed}};
  io::update_h5ad(o.input, o.output, [&](io::AnnData& ad) {
    if (ad.root.child("obsm") == nullptr) ad.root.set("obsm", io::make_dict());
    ad.root.child("obsm")->set(o.key, io::make_array(io::Array::from(emb, {n, width})));
    if (ad.root.child("uns") == nullptr) ad.root.set("uns", io::make_dict());
    io::Node s = io::make_dict();
    s.set("model", io::make_string(o.model_dir));
    s.set("structure", io::make_string(model->structure()));
    s.set("max_length", io::make_scalar<int64_t>(max_len));
    s.set("gene_selection", io::make_string(o.sample ? "random" : "top_expressed"));
    s.set("normalize_l2", io::make_scalar<bool>(o.normalize_l2));
    s.set("genes_matched", io::make_scalar<int64_t>(match.n_matched));
    ad.root.child("uns")->set("scfm_embed_" + o.key, std::move(s));
  });
  settings["n_cells"] = n;
  settings["width"] = width;
  settings["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return settings;
}

}  // namespace scfm::tasks
