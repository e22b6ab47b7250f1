#include "scfm/tasks/embed.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/linalg_vector_norm.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <chrono>

#include "scfm/io/h5ad.h"
#include "scfm/io/h5ad_stream.h"
#include "scfm/io/vocab.h"
#include "scfm/model/factory.h"
#include "scfm/tasks/cell_input.h"
#include "scfm/tasks/uns.h"
#include "scfm/util/error.h"
#include "scfm/util/progress.h"

namespace scfm::tasks {
namespace {

// The mean of the encoder's outputs over each cell's gene tokens (not <cls>, not pads), in
// double and token order, so a cell's vector does not depend on its batch or its padding.
at::Tensor gene_mean(const at::Tensor& tokens, const at::Tensor& padding) {
  const at::Tensor h = tokens.to(at::kCPU, at::kFloat).contiguous();
  const at::Tensor pad = padding.to(at::kCPU).contiguous();
  const int64_t B = h.size(0), T = h.size(1), E = h.size(2);
  at::Tensor out = at::zeros({B, E}, h.options());
  const float* hp = h.data_ptr<float>();
  const bool* pp = pad.data_ptr<bool>();
  float* op = out.data_ptr<float>();
  std::vector<double> acc(static_cast<size_t>(E));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    int64_t n = 0;
    for (int64_t t = 1; t < T; ++t) {
      if (pp[b * T + t]) continue;
      const float* row = hp + (b * T + t) * E;
      for (int64_t e = 0; e < E; ++e) acc[e] += row[e];
      ++n;
    }
    if (n > 0)
      for (int64_t e = 0; e < E; ++e) op[b * E + e] = static_cast<float>(acc[e] / static_cast<double>(n));
  }
  return out;
}

}  // namespace

std::string resolve_pool(const std::string& pool, bool per_token, const std::string& structure) {
  if (pool == "auto") return per_token ? "mean" : "model";
  if (pool != "mean" && pool != "cls" && pool != "model")
    throw Error("embed: --pool '" + pool + "': expected auto, mean, cls or model");
  if (pool != "model" && !per_token)
    throw Error("embed: --pool " + pool + ": the " + structure +
                " backbone pools its tokens inside the model and has no per-token output; use --pool model");
  return pool;
}

CellEmbedding embed_cells(const EmbedOptions& o, io::RowSource& reader, const std::vector<std::string>& gene_names,
                          const std::string& source) {
  auto model = model::load_pretrain_model(o.model_dir, o.allow_partial);
  const nlohmann::json args = model->args();
  const model::InputConventions conv = model::input_conventions(args);
  io::Vocab vocab = io::Vocab::load(o.model_dir + "/vocab.json");
  const int64_t max_len = o.max_length;
  if (max_len < 2) throw Error("embed: --max-length must be at least 2 (<cls> and one gene)");
  if (o.batch_size < 1) throw Error("embed: --batch-size must be at least 1");
  if (o.block_cells < 1) throw Error("embed: the block size must be at least 1");
  if (static_cast<int64_t>(gene_names.size()) != reader.n_cols())
    throw Error("embed: " + source + " has " + std::to_string(reader.n_cols()) + " matrix columns but " +
                std::to_string(gene_names.size()) + " gene names");
  io::GeneMatch match = match_model_genes(vocab, gene_names, source, "embed");

  const int64_t n = reader.n_rows();
  torch::NoGradGuard no_grad;
  model->module().eval();
  int64_t width = -1;
  const std::string pool = resolve_pool(o.pool, model->per_token(), model->structure());
  CellEmbedding out;
  std::vector<float>& emb = out.x;
  CellInput input(vocab, conv, match.var_to_id, max_len, o.sample, o.seed);

  util::Progress bar("embed", n, "cells");
  for (int64_t start = 0; start < n; start += o.block_cells) {
    const int64_t count = std::min(o.block_cells, n - start);
    io::CsrMatrix block = reader.read_rows(start, count);
    for (int64_t b0 = 0; b0 < count; b0 += o.batch_size) {
      const int64_t bn = std::min(o.batch_size, count - b0);
      std::vector<int64_t> rows(static_cast<size_t>(bn)), cells(static_cast<size_t>(bn));
      for (int64_t i = 0; i < bn; ++i) {
        rows[i] = b0 + i;
        cells[i] = start + b0 + i;
      }
      CellTokens tok = input.tokens(block, rows, cells);
      const model::MlmOutputs mo = model->forward(tok.genes, tok.values, tok.padding);
      at::Tensor e = pool == "mean"  ? gene_mean(mo.tokens, tok.padding)
                     : pool == "cls" ? mo.tokens.select(1, 0).to(at::kCPU, at::kFloat).contiguous()
                                     : mo.cell_emb.to(at::kCPU, at::kFloat).contiguous();
      if (o.normalize_l2) e = e / at::linalg_vector_norm(e, 2, {1}, true).clamp_min(1e-12);
      if (width < 0) {
        width = e.size(1);
        emb.reserve(static_cast<size_t>(n * width));
      }
      emb.insert(emb.end(), e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
      bar.advance(bn);
    }
  }
  if (width < 0) width = 0;
  out.n = n;
  out.width = width;
  out.summary = {{"model", o.model_dir}, {"structure", model->structure()}, {"key", o.key},
                 {"max_length", max_len}, {"gene_selection", o.sample ? "random (keyed by seed, cell)" : "top expressed"},
                 {"pool", pool}, {"normalize_l2", o.normalize_l2}, {"genes_matched", match.n_matched},
                 {"genes_unmatched", match.n_unmatched}, {"seed", o.seed}, {"n_cells", n}, {"width", width}};
  out.uns = {{"model", o.model_dir}, {"structure", model->structure()}, {"max_length", max_len},
             {"gene_selection", o.sample ? "random" : "top_expressed"}, {"pool", pool},
             {"normalize_l2", o.normalize_l2}, {"genes_matched", match.n_matched}};
  return out;
}

nlohmann::json embed(const EmbedOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  io::H5adReadOptions ro;
  ro.lazy_matrix_elements = 0;
  const io::AnnData meta = io::read_h5ad(o.input, ro);
  io::H5adStreamOptions so;
  so.layer = o.layer;
  io::H5adMatrixReader reader(o.input, so);
  const CellEmbedding e = embed_cells(o, reader, io::gene_names(meta, o.gene_col), o.input);
  io::update_h5ad(o.input, o.output, [&](io::AnnData& ad) {
    if (ad.root.child("obsm") == nullptr) ad.root.set("obsm", io::make_dict());
    ad.root.child("obsm")->set(o.key, io::make_array(io::Array::from(e.x, {e.n, e.width})));
    if (ad.root.child("uns") == nullptr) ad.root.set("uns", io::make_dict());
    ad.root.child("uns")->set("scfm_embed_" + o.key, uns_dict(e.uns));
  });
  nlohmann::json summary = e.summary;
  summary["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace scfm::tasks
