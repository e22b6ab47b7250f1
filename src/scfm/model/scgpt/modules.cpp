#include "scfm/model/scgpt/modules.h"

#include <ATen/ops/bmm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/clamp.h>
#include "scfm/model/dropout.h"
#include "scfm/model/value_mlp.h"
#include <ATen/ops/leaky_relu.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>
#include <torch/csrc/autograd/custom_function.h>

#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace nn = torch::nn;

// ----------------------------------------------------------------------------------------------
EmbeddingEncoderImpl::EmbeddingEncoderImpl(int64_t n, int64_t d, int64_t padding_idx)
    : num_embeddings(n) {
  nn::EmbeddingOptions options(n, d);
  if (padding_idx >= 0) options.padding_idx(padding_idx);
  embedding = register_module("embedding", nn::Embedding(options));
  enc_norm = register_module("enc_norm", nn::LayerNorm(nn::LayerNormOptions({d})));
}

at::Tensor EmbeddingEncoderImpl::forward(const at::Tensor& ids, const char* what) {
  if (ids.numel() > 0) {
    int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= num_embeddings)
      throw Error(std::string("scGPT: ") + what + " out of range: found " +
                  std::to_string(lo < 0 ? lo : hi) + ", expected 0.." + std::to_string(num_embeddings - 1));
  }
  return enc_norm(embedding(ids));
}

// ----------------------------------------------------------------------------------------------
ContinuousValueEncoderImpl::ContinuousValueEncoderImpl(int64_t d, double dropout, double max_v)
    : dropout_p(dropout), max_value(max_v) {
  linear1 = register_module("linear1", nn::Linear(1, d));
  linear2 = register_module("linear2", nn::Linear(d, d));
  norm = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({d})));
}

at::Tensor ContinuousValueEncoderImpl::forward(const at::Tensor& values) {
  at::Tensor x = at::clamp(values.unsqueeze(-1), c10::nullopt, max_value);
  x = model::scalar_relu_mlp(x, linear1->weight, linear1->bias, linear2->weight, linear2->bias);  // value_mlp.h
  return model::dropout(norm(x), dropout_p, is_training());
}

// ----------------------------------------------------------------------------------------------
MlpHead::MlpHead(int64_t d_in, int64_t d) {
  linears = {nn::Linear(d_in, d), nn::Linear(d, d), nn::Linear(d, 1)};
  list->push_back(linears[0]);
  list->push_back(nn::LeakyReLU());
  list->push_back(linears[1]);
  list->push_back(nn::LeakyReLU());
  list->push_back(linears[2]);
}

at::Tensor MlpHead::forward(const at::Tensor& x) {
  at::Tensor h = at::leaky_relu(linears[0]->forward(x), 0.01);
  h = at::leaky_relu(linears[1]->forward(h), 0.01);
  return linears[2]->forward(h).squeeze(-1);
}

ExprDecoderImpl::ExprDecoderImpl(int64_t d, bool zero_prob, bool use_batch_labels)
    : explicit_zero_prob(zero_prob) {
  int64_t d_in = use_batch_labels ? 2 * d : d;
  fc = std::make_shared<MlpHead>(d_in, d);
  register_module("fc", fc->list);
  if (zero_prob) {
    zero_logit = std::make_shared<MlpHead>(d_in, d);
    register_module("zero_logit", zero_logit->list);
  }
}

std::pair<at::Tensor, at::Tensor> ExprDecoderImpl::forward(const at::Tensor& x) {
  at::Tensor pred = fc->forward(x);
  if (!explicit_zero_prob) return {pred, at::Tensor()};
  return {pred, at::sigmoid(zero_logit->forward(x))};
}

// ----------------------------------------------------------------------------------------------
namespace {

struct GradReverseFn : torch::autograd::Function<GradReverseFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double lambda) {
    ctx->saved_data["lambda"] = lambda;
    return x.view_as(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    double lambda = ctx->saved_data["lambda"].toDouble();
    return {grad[0].neg() * lambda, at::Tensor()};
  }
};

}  // namespace

at::Tensor grad_reverse(const at::Tensor& x, double lambda) { return GradReverseFn::apply(x, lambda); }

StackedDecoderImpl::StackedDecoderImpl(int64_t d, int64_t n_out, int64_t nlayers, bool leaky, bool reverse)
    : reverse_grad(reverse) {
  decoder = register_module("_decoder", nn::ModuleList());
  for (int64_t i = 0; i + 1 < nlayers; ++i) {
    linears.push_back(nn::Linear(d, d));
    norms.push_back(nn::LayerNorm(nn::LayerNormOptions({d})));
    decoder->push_back(linears.back());
    if (leaky) {
      decoder->push_back(nn::LeakyReLU());
    } else {
      decoder->push_back(nn::ReLU());
    }
    decoder->push_back(norms.back());
  }
  out_layer = register_module("out_layer", nn::Linear(d, n_out));
  leaky_ = leaky;
}

at::Tensor StackedDecoderImpl::forward(const at::Tensor& input) {
  at::Tensor x = reverse_grad ? grad_reverse(input, 1.0) : input;
  for (size_t i = 0; i < linears.size(); ++i) {
    x = linears[i](x);
    x = leaky_ ? at::leaky_relu(x, 0.01) : at::relu(x);
    x = norms[i](x);
  }
  return out_layer(x);
}

// ----------------------------------------------------------------------------------------------
MvcDecoderImpl::MvcDecoderImpl(int64_t d, const std::string& style, bool zero_prob, bool use_batch_labels)
    : arch_style(style), explicit_zero_prob(zero_prob) {
  int64_t d_in = use_batch_labels ? 2 * d : d;
  if (style == "inner product" || style == "inner product, detach") {
    gene2query = register_module("gene2query", nn::Linear(d, d));
    W = register_module("W", nn::Linear(nn::LinearOptions(d, d_in).bias(false)));
    if (zero_prob) W_zero_logit = register_module("W_zero_logit", nn::Linear(d, d_in));
  } else if (style == "concat query") {
    gene2query = register_module("gene2query", nn::Linear(d, 64));
    fc1 = register_module("fc1", nn::Linear(d + 64, 64));
    hidden_activation = register_module("hidden_activation", nn::PReLU());
    fc2 = register_module("fc2", nn::Linear(64, 1));
  } else if (style == "sum query") {
    gene2query = register_module("gene2query", nn::Linear(d, d));
    fc1 = register_module("fc1", nn::Linear(d, 64));
    hidden_activation = register_module("hidden_activation", nn::PReLU());
    fc2 = register_module("fc2", nn::Linear(64, 1));
  } else {
    throw Error("scGPT: unknown mvc_decoder_style \"" + style + "\"");
  }
  if (zero_prob && !W_zero_logit)
    throw Error("scGPT: mvc_decoder_style \"" + style + "\" has no explicit zero probability");
}

std::pair<at::Tensor, at::Tensor> MvcDecoderImpl::forward(const at::Tensor& cell_emb,
                                                          const at::Tensor& gene_embs_in) {
  at::Tensor gene_embs = arch_style == "inner product, detach" ? gene_embs_in.detach() : gene_embs_in;
  at::Tensor query = at::sigmoid(gene2query(gene_embs));
  if (W) {
    at::Tensor c = cell_emb.unsqueeze(2);  // (batch, d_in, 1)
    at::Tensor pred = at::bmm(W(query), c).squeeze(2);
    if (!explicit_zero_prob) return {pred, at::Tensor()};
    return {pred, at::sigmoid(at::bmm(W_zero_logit(query), c).squeeze(2))};
  }
  at::Tensor h;
  if (arch_style == "concat query") {
    at::Tensor c = cell_emb.unsqueeze(1).expand({-1, gene_embs.size(1), -1});
    h = hidden_activation(fc1(at::cat({c, query}, 2)));
  } else {
    h = hidden_activation(fc1(cell_emb.unsqueeze(1) + query));
  }
  return {fc2(h).squeeze(2), at::Tensor()};
}

// ----------------------------------------------------------------------------------------------
DomainSpecificBatchNormImpl::DomainSpecificBatchNormImpl(int64_t f, int64_t domains, double eps, bool affine) {
  bns = register_module("bns", nn::ModuleList());
  for (int64_t i = 0; i < domains; ++i) {
    norms.push_back(nn::BatchNorm1d(nn::BatchNorm1dOptions(f).eps(eps).affine(affine)));
    bns->push_back(norms.back());
  }
}

at::Tensor DomainSpecificBatchNormImpl::forward(const at::Tensor& x, int64_t domain) {
  if (domain < 0 || domain >= static_cast<int64_t>(norms.size()))
    throw Error("scGPT: domain (batch label) " + std::to_string(domain) + " exceeds the number of domains " +
                std::to_string(norms.size()));
  return norms[static_cast<size_t>(domain)](x);
}

AffineExprDecoderImpl::AffineExprDecoderImpl(int64_t d_model, bool explicit_zero_prob) {
  coeff_decoder = register_module("coeff_decoder", ExprDecoder(d_model, explicit_zero_prob, false));
  bias_decoder = register_module("bias_decoder", ExprDecoder(d_model, explicit_zero_prob, false));
}

std::pair<at::Tensor, at::Tensor> AffineExprDecoderImpl::forward(const at::Tensor& x, const at::Tensor& values) {
  auto [coeff, zero_probs] = coeff_decoder(x);
  at::Tensor bias = bias_decoder(x).first;
  return {coeff * values.to(coeff.scalar_type()) + bias, zero_probs};
}

}  // namespace scfm::model::scgpt
