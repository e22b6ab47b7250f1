#include "scfm/model/scbench/sc_model.h"

#include <ATen/ops/_unique2.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/div.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/index_copy.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/index_select.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/where.h>
#include <c10/core/GradMode.h>
#include <torch/nn/init.h>

#include "scfm/model/scbench/cnn.h"
#include "scfm/model/scbench/gnn_cp.h"
#include "scfm/model/scbench/linear.h"
#include "scfm/model/scbench/transformer.h"
#include "scfm/model/value_mlp.h"
#include "scfm/util/error.h"

namespace scfm::model::scbench {

namespace {

std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::shared_ptr<BackboneImpl> make_encoder(const ScModelConfig& c, int64_t ntoken) {
  const int64_t d = c.embsize;
  switch (c.structure()) {
    case Structure::kTransformer:
      return std::make_shared<TransformerEncoderImpl>(
          TransformerOptions(d, c.nheads)
              .dim_feedforward(c.feedforward_width())
              .dropout(c.dropout)
              .activation(c.activation == "gelu" ? Activation::kGELU : Activation::kReLU)
              .norm_first(c.norm_first)
              .num_layers(c.nlayers));
    case Structure::kGnnCp:
      return std::make_shared<GnnCpImpl>(GnnCpOptions(d, ntoken).num_layers(c.nlayers).dropout(c.dropout));
    case Structure::kCnnBase:
    case Structure::kCnnOurs:
      return std::make_shared<CnnImpl>(CnnOptions(d, c.nlayers).dropout(c.dropout));
    case Structure::kLinearOurs:
      return std::make_shared<LinearOursImpl>(LinearOursOptions(d, c.train_maxseq + 1, c.nlayers).dropout(c.dropout));
    case Structure::kLinearBase:
      return std::make_shared<LinearBaseImpl>(LinearBaseOptions(d, c.nlayers).dropout(c.dropout));
  }
  throw Error("scBenchmark: unhandled model_structure " + c.model_structure);
}

}  // namespace

ScModelImpl::ScModelImpl(const ScModelConfig& config, int64_t vocab_size)
    : config_(config), structure_(config.structure()), vocab_size_(vocab_size) {
  config_.validate();
  if (vocab_size <= 0) throw Error("scBenchmark: vocabulary size must be positive, got " + std::to_string(vocab_size));
  for (auto [name, id] : {std::pair<const char*, int64_t>{"pad_token_id", config.pad_token_id},
                          std::pair<const char*, int64_t>{"cls_token_id", config.cls_token_id}})
    if (id >= vocab_size)
      throw Error("scBenchmark config: " + std::string(name) + " " + std::to_string(id) +
                  " is outside the vocabulary of " + std::to_string(vocab_size) + " tokens");
  const int64_t d = config.embsize;

  // Registration order follows scModel.__init__, so named_parameters() lists the file's order.
  auto emb_options = torch::nn::EmbeddingOptions(vocab_size, config.dict_size);
  if (config.pad_token_id >= 0) emb_options.padding_idx(config.pad_token_id);
  embedding = register_module("embedding", torch::nn::Embedding(emb_options));
  layer_norm = register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  if (config.dict_size != d) emb_trans = register_module("emb_trans", torch::nn::Linear(config.dict_size, d));
  value_encoder = register_module("value_encoder", Mlp(std::vector<int64_t>{1, d, d}, Activation::kReLU));
  encoder = register_module("encoder", make_encoder(config_, vocab_size));
  decoder = register_module("decoder", Mlp(std::vector<int64_t>{d, d, d, 1}, Activation::kLeakyReLU));
  gene2query = register_module("gene2query", Mlp(std::vector<int64_t>{d, d, d, d}, Activation::kLeakyReLU));

  // scModel._init_weights.
  c10::AutoGradMode no_grad(false);
  torch::nn::init::xavier_uniform_(embedding->weight);
  value_encoder->init_xavier();
  decoder->init_xavier();
  gene2query->init_xavier();
}

int64_t ScModelImpl::required_length() const {
  switch (structure_) {
    case Structure::kCnnBase:
    case Structure::kCnnOurs:
    case Structure::kLinearOurs: return config_.train_maxseq + 1;
    default: return -1;
  }
}

void ScModelImpl::check_inputs(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask) const {
  const std::string who = std::string("scBenchmark ") + structure_name(structure_) + ": ";
  if (!src.defined() || src.dim() != 2)
    throw Error(who + "src should have 2 dimensions (B x T), but got " + (src.defined() ? shape_str(src) : "none"));
  if (src.scalar_type() != at::kLong) throw Error(who + "src must be int64 token ids, got " + std::string(c10::toString(src.scalar_type())));
  if (!values.defined() || values.sizes() != src.sizes())
    throw Error(who + "values must have src's shape " + shape_str(src) + ", got " + (values.defined() ? shape_str(values) : "none"));
  if (!values.is_floating_point()) throw Error(who + "values must be floating point, got " + std::string(c10::toString(values.scalar_type())));
  if (mask.defined()) {
    if (mask.sizes() != src.sizes())
      throw Error(who + "key_padding_mask must have src's shape " + shape_str(src) + ", got " + shape_str(mask));
    if (mask.scalar_type() != at::kBool)
      throw Error(who + "key_padding_mask must be bool (true at pads), got " + std::string(c10::toString(mask.scalar_type())));
  }
  if (src.size(0) == 0 || src.size(1) == 0) throw Error(who + "empty input " + shape_str(src));
  const int64_t need = required_length();
  if (need > 0 && src.size(1) != need)
    throw Error(who + "needs exactly train_maxseq + 1 = " + std::to_string(need) + " tokens per cell (" +
                std::to_string(config_.train_maxseq) + " genes and <cls>), got " + std::to_string(src.size(1)));
  const int64_t lo = src.min().item<int64_t>(), hi = src.max().item<int64_t>();
  if (lo < 0 || hi >= vocab_size_)
    throw Error(who + "src holds token id " + std::to_string(lo < 0 ? lo : hi) + " outside the vocabulary [0, " +
                std::to_string(vocab_size_) + ")");
}

at::Tensor ScModelImpl::vocab_order(const at::Tensor& src) const {
  // The original's global_index_map over arange(ntoken): [<cls> if its id >= <pad>'s, the ids
  // below <pad> in order, <pad>]; other ids (e.g. <eoc>) map to -1 and sort first.
  const int64_t pad = config_.pad_token_id, cls = config_.cls_token_id;
  const int64_t shift = cls >= pad ? 1 : 0;
  at::Tensor pos = at::where(src < pad, src + shift, at::Scalar(int64_t{-1}));
  pos = at::where(src == pad, at::Scalar(pad + shift), pos);
  if (shift) pos = at::where(src == cls, at::Scalar(int64_t{0}), pos);
  return std::get<1>(at::sort(pos, c10::optional<bool>(true), /*dim=*/1, /*descending=*/false));
}

ScModelOutput ScModelImpl::forward(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask,
                                   const at::Tensor& loss_positions) {
  check_inputs(src, values, key_padding_mask);
  return forward_impl(src, values, key_padding_mask, loss_positions, {});
}

ScModelOutput ScModelImpl::forward_gene_only(const at::Tensor& src, const at::Tensor& key_padding_mask,
                                             const at::Tensor& cls_offset) {
  check_inputs(src, at::zeros(src.sizes(), at::TensorOptions().dtype(at::kFloat).device(src.device())), key_padding_mask);
  const int64_t dict = embedding->weight.size(1);
  if (cls_offset.defined() && (cls_offset.dim() != 2 || cls_offset.size(1) != dict ||
                               (cls_offset.size(0) != 1 && cls_offset.size(0) != src.size(0))))
    throw Error("scBenchmark: cls_offset should be (1 or batch) x " + std::to_string(dict) + ", got " + shape_str(cls_offset));
  return forward_impl(src, {}, key_padding_mask, {}, cls_offset);
}

ScModelImpl::TokenInput ScModelImpl::token_input(const at::Tensor& src, const at::Tensor& values,
                                                 const at::Tensor& cls_offset) {
  const int64_t B = src.size(0), T = src.size(1);
  // Per-gene work runs once per distinct gene of the batch (cells share most of their genes):
  // the embedding (and emb_trans), and below gene2query on it, then rows are gathered per token.
  // The same values; gradients are the same sums in another order (index_select's backward).
  auto [genes, token_gene, unused_counts] = at::_unique2(src.reshape({-1}), /*sorted=*/true, /*return_inverse=*/true);
  // Once the embedding has a dense gradient (from the first step on; zero_grad keeps it), its
  // rows are added into it (a sparse gradient: the batch's genes only) instead of building a
  // second vocabulary x E gradient and adding the whole of it (each 62 MB at scBenchmark's size).
  // The same sums: each gene is looked up once here.
  const at::Tensor& table = embedding->weight;
  const bool rows_only = table.is_cpu() && table.grad().defined() && !table.grad().is_sparse();
  const auto pad_idx = embedding->options.padding_idx();
  at::Tensor per_gene = at::embedding(table, genes, pad_idx ? *pad_idx : -1, false, rows_only);
  if (!emb_trans.is_empty()) per_gene = emb_trans->forward(per_gene);
  at::Tensor gene_emb = per_gene.index_select(0, token_gene).view({B, T, -1});
  at::Tensor total = gene_emb;
  if (cls_offset.defined()) {  // on the raw embedding: emb_trans(x + o) = emb_trans(x) + W o
    at::Tensor o = cls_offset.to(gene_emb.scalar_type());
    if (!emb_trans.is_empty()) o = at::matmul(o, emb_trans->weight.t());
    total = at::cat({gene_emb.narrow(1, 0, 1) + o.unsqueeze(1).expand({B, 1, -1}), gene_emb.narrow(1, 1, T - 1)}, 1);
  }
  if (values.defined()) {
    at::Tensor v = values.to(gene_emb.scalar_type()).unsqueeze(-1).clamp_max(config_.max_value);
    // value_encoder (Linear(1, d), ReLU, Linear(d, d)) in its exact piecewise form (value_mlp.h)
    const auto& venc = value_encoder->linears;
    total = total + model::scalar_relu_mlp(v, venc[0]->weight, venc[0]->bias, venc[1]->weight, venc[1]->bias);
  }
  return {total, per_gene, token_gene};
}

at::Tensor ScModelImpl::encoder_input(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask) {
  check_inputs(src, values, key_padding_mask);
  return token_input(src, values, {}).total;
}

ScModelOutput ScModelImpl::forward_impl(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask,
                                        const at::Tensor& loss_positions, const at::Tensor& cls_offset) {
  const int64_t B = src.size(0), T = src.size(1);
  at::Tensor pos;  // the flat positions the heads compute (all when undefined)
  if (loss_positions.defined()) {
    if (loss_positions.sizes() != src.sizes() || loss_positions.scalar_type() != at::kBool)
      throw Error(std::string("scBenchmark ") + structure_name(structure_) + ": loss positions must be bool " +
                  shape_str(src) + ", got " + shape_str(loss_positions) + " " +
                  std::string(c10::toString(loss_positions.scalar_type())));
    pos = loss_positions.reshape({-1}).nonzero().squeeze(1);
  }
  // per-position values into B x T, 0 elsewhere
  auto spread = [&](const at::Tensor& v) { return at::zeros({B * T}, v.options()).index_copy(0, pos, v).view({B, T}); };
  auto [total, per_gene, token_gene] = token_input(src, values, cls_offset);
  ScModelOutput out;
  at::Tensor h;
  if (structure_ == Structure::kCnnOurs) {
    at::Tensor order = vocab_order(src).unsqueeze(-1).expand({-1, -1, total.size(-1)});
    h = encoder->forward(at::gather(total, 1, order), src, key_padding_mask);
  } else {
    h = encoder->forward(total, src, key_padding_mask);
  }
  if (encoder->per_token()) {
    out.mlm_output = pos.defined() ? spread(decoder->forward(h.reshape({B * T, -1}).index_select(0, pos)).squeeze(1))
                                   : decoder->forward(h).squeeze(2);
    out.cell_emb = config_.cell_emb_style == "avg-pool" ? h.mean(1) : h.select(1, 0);
    out.tokens = h;
  } else {
    out.cell_emb = h;
  }
  // the original's query.bmm(cell_emb.unsqueeze(2)).squeeze(2), as a product and a sum over E:
  // a B x (T x E) by (E x 1) bmm is a GEMM with one column, slow in BLAS and three times so in training
  if (pos.defined()) {
    auto [needed, row, unused] = at::_unique2(token_gene.index_select(0, pos), /*sorted=*/true, /*return_inverse=*/true);
    const at::Tensor query = gene2query->forward(per_gene.detach().index_select(0, needed)).index_select(0, row);
    const at::Tensor cell = out.cell_emb.index_select(0, at::div(pos, T, "floor"));
    out.mvc_output = spread((query * cell).sum(1));
  } else {
    const at::Tensor query = gene2query->forward(per_gene.detach()).index_select(0, token_gene).view({B, T, -1});
    out.mvc_output = (query * out.cell_emb.unsqueeze(1)).sum(2);
  }
  if (!out.mlm_output.defined()) out.mlm_output = out.mvc_output.detach();
  return out;
}

ScModel make_scbench_model(const ScModelConfig& config, int64_t vocab_size) { return ScModel(config, vocab_size); }

}  // namespace scfm::model::scbench
