// The building blocks of scGPT's TransformerModel (scgpt/model/model.py), registered under the
// original attribute names so that a torch.save'd state dict loads by name:
//
//   EmbeddingEncoder      embedding, enc_norm        GeneEncoder, CategoryValueEncoder, BatchLabelEncoder
//   ContinuousValueEncoder linear1, linear2, norm    values clamped at max_value, Linear-ReLU-Linear-LN
//   ExprDecoder           fc.{0,2,4}, zero_logit.{0,2,4}   (LeakyReLU 0.01 at 1, 3)
//   AffineExprDecoder     coeff_decoder.*, bias_decoder.*   (two ExprDecoders: coeff * value + bias)
//   StackedDecoder        _decoder.{3i, 3i+2}, out_layer   ClsDecoder (ReLU) and
//                                                          AdversarialDiscriminator (LeakyReLU, grad reversal)
//   MvcDecoder            gene2query, W, W_zero_logit | gene2query, fc1, hidden_activation (PReLU), fc2
//   DomainSpecificBatchNorm  bns.{i} (BatchNorm1d, eps 6.1e-5, no affine)
//
// Tensors are batch-first: (batch, seq_len[, embsize]). Dropout acts only in training mode.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace scfm::model::scgpt {

// Embedding (optionally with a padding row) then LayerNorm: scGPT's GeneEncoder,
// CategoryValueEncoder and BatchLabelEncoder share this layout.
struct EmbeddingEncoderImpl : torch::nn::Module {
  // padding_idx < 0: no padding row.
  EmbeddingEncoderImpl(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1);
  // ids: int64 of any shape; ids outside [0, num_embeddings) throw scfm::Error naming `what`.
  at::Tensor forward(const at::Tensor& ids, const char* what = "token id");

  int64_t num_embeddings;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::LayerNorm enc_norm{nullptr};
};
TORCH_MODULE(EmbeddingEncoder);

// LN(linear2(relu(linear1(min(x, max_value))))) per value; x (batch, seq) -> (batch, seq, d_model).
struct ContinuousValueEncoderImpl : torch::nn::Module {
  ContinuousValueEncoderImpl(int64_t d_model, double dropout, double max_value = 512);
  at::Tensor forward(const at::Tensor& values);

  double dropout_p;
  double max_value;
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(ContinuousValueEncoder);

// Linear(d_in, d) - LeakyReLU - Linear(d, d) - LeakyReLU - Linear(d, 1), as a ModuleList whose
// indices match PyTorch's nn.Sequential.
struct MlpHead {
  torch::nn::ModuleList list;
  std::vector<torch::nn::Linear> linears;
  MlpHead(int64_t d_in, int64_t d_model);
  at::Tensor forward(const at::Tensor& x);  // (..., d_in) -> (...)
};

// Expression value per position, and (explicit_zero_prob) the probability that it is zero.
struct ExprDecoderImpl : torch::nn::Module {
  // use_batch_labels: the input is [transformer output, batch embedding] (2 * d_model wide).
  ExprDecoderImpl(int64_t d_model, bool explicit_zero_prob, bool use_batch_labels);
  // x (batch, seq, d_in) -> pred (batch, seq); zero_probs (batch, seq) or undefined.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x);

  bool explicit_zero_prob;
  std::shared_ptr<MlpHead> fc, zero_logit;
};
TORCH_MODULE(ExprDecoder);

// scGPT's AffineExprDecoder (TransformerGenerator's decoder, activation None, no adaptive bias):
// coeff_decoder and bias_decoder, two ExprDecoders; pred = coeff * values + bias, zero_probs from
// coeff_decoder. `values` are the input values of the same positions.
struct AffineExprDecoderImpl : torch::nn::Module {
  AffineExprDecoderImpl(int64_t d_model, bool explicit_zero_prob);
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& values);

  ExprDecoder coeff_decoder{nullptr}, bias_decoder{nullptr};
};
TORCH_MODULE(AffineExprDecoder);

// (nlayers - 1) x [Linear(d, d), activation, LayerNorm(d)] then out_layer Linear(d, n_out).
// ClsDecoder: ReLU. AdversarialDiscriminator: LeakyReLU and, with reverse_grad, a gradient
// reversal layer (identity forward, gradient times -lambda backward) at its input.
struct StackedDecoderImpl : torch::nn::Module {
  StackedDecoderImpl(int64_t d_model, int64_t n_out, int64_t nlayers, bool leaky, bool reverse_grad);
  at::Tensor forward(const at::Tensor& x);  // (batch, d_model) -> (batch, n_out)

  bool reverse_grad;
  torch::nn::ModuleList decoder{nullptr};  // registered as "_decoder"
  std::vector<torch::nn::Linear> linears;
  std::vector<torch::nn::LayerNorm> norms;
  torch::nn::Linear out_layer{nullptr};

 private:
  bool leaky_ = false;
};
TORCH_MODULE(StackedDecoder);

// Identity forward, gradient multiplied by -lambda backward (scgpt/model/grad_reverse.py).
at::Tensor grad_reverse(const at::Tensor& x, double lambda = 1.0);

// Masked value prediction from the cell embedding (MVCDecoder). Styles: "inner product",
// "inner product, detach" (gene embeddings detached), "concat query", "sum query" (no explicit
// zero probability, as in scGPT).
struct MvcDecoderImpl : torch::nn::Module {
  MvcDecoderImpl(int64_t d_model, const std::string& arch_style, bool explicit_zero_prob,
                 bool use_batch_labels);
  // cell_emb (batch, d_in), gene_embs (batch, seq, d_model) -> pred, zero_probs (batch, seq)
  // (zero_probs undefined unless explicit_zero_prob).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& cell_emb, const at::Tensor& gene_embs);

  std::string arch_style;
  bool explicit_zero_prob;
  torch::nn::Linear gene2query{nullptr}, W{nullptr}, W_zero_logit{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::nn::PReLU hidden_activation{nullptr};
};
TORCH_MODULE(MvcDecoder);

// One BatchNorm1d per domain (DomainSpecificBatchNorm1d); forward normalises the whole batch with
// the norm of one domain. x (batch, d_model, seq).
struct DomainSpecificBatchNormImpl : torch::nn::Module {
  DomainSpecificBatchNormImpl(int64_t num_features, int64_t num_domains, double eps, bool affine);
  at::Tensor forward(const at::Tensor& x, int64_t domain);

  torch::nn::ModuleList bns{nullptr};
  std::vector<torch::nn::BatchNorm1d> norms;
};
TORCH_MODULE(DomainSpecificBatchNorm);

}  // namespace scfm::model::scgpt
