// scGPT's TransformerModel (scgpt/model/model.py) in LibTorch, with its parameter names:
//
//   encoder.{embedding,enc_norm}            GeneEncoder (padding row = the vocab's pad token)
//   value_encoder.{linear1,linear2,norm}    "continuous" (values clamped at value_max_clamp)
//   value_encoder.{embedding,enc_norm}      "category" (values are bin ids; padding_idx = pad_value)
//                                           "scaling": no parameters, gene embedding * value
//   batch_encoder.{embedding,enc_norm}      use_batch_labels
//   dsbn.bns.{i} | bn                       domain_spec_batchnorm "dsbn" | "batchnorm"
//   transformer_encoder.layers.{i}.*        see encoder_layer.h
//   decoder.fc.*, decoder.zero_logit.*      ExprDecoder
//   cls_decoder._decoder.*, .out_layer      ClsDecoder (unless config.cls_decoder is false)
//   mvc_decoder.*                           do_mvc
//   grad_reverse_discriminator.*            do_dab
//   pert_encoder.weight                     pert_flags (TransformerGenerator's nn.Embedding(3, d, padding_idx=2));
//   decoder.{coeff,bias}_decoder.*          with pert_flags the decoder is TransformerGenerator's AffineExprDecoder
//
// Forward matches TransformerModel.forward(src, values, src_key_padding_mask, batch_labels, CLS,
// CCE, MVC, ECS, do_sample); in eval mode (no dropout) it reproduces scGPT's outputs within
// float32 rounding (tests/model/scgpt_test.cpp, 1e-4). Not ported: generate() and the
// "linear" fast-transformer backend (fast_transformers' linear attention).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "scfm/model/scgpt/config.h"
#include "scfm/model/scgpt/encoder_layer.h"
#include "scfm/model/scgpt/modules.h"

namespace scfm::model::scgpt {

// Which outputs forward() computes (scGPT's CLS, CCE, MVC, ECS and do_sample flags).
struct ForwardOptions {
  bool cls = false;        // cls_output
  bool cce = false;        // loss_cce: a second encode (dropout differs in training) and InfoNCE
  bool mvc = false;        // mvc_output (+ mvc_zero_probs); needs do_mvc
  bool ecs = false;        // loss_ecs with config.ecs_threshold
  bool do_sample = false;  // with explicit_zero_prob: pred times a Bernoulli(zero_probs) sample
};

// Tensors are undefined where not computed.
struct ForwardOutput {
  at::Tensor mlm_output;      // (batch, seq)
  at::Tensor mlm_zero_probs;  // (batch, seq), explicit_zero_prob
  at::Tensor cell_emb;        // (batch, embsize)
  at::Tensor tokens;          // (batch, seq, embsize): the transformer's output
  at::Tensor cls_output;      // (batch, n_cls)
  at::Tensor mvc_output;      // (batch, seq)
  at::Tensor mvc_zero_probs;  // (batch, seq)
  at::Tensor loss_cce, loss_ecs;  // scalars
  at::Tensor dab_output;      // (batch, num_batch_labels), do_dab
};

struct TransformerModelImpl : torch::nn::Module {
  // pad_token_id: the gene embedding's padding row (the vocab id of config.pad_token), -1 = none.
  // config.ntoken must be set (> 0). Throws scfm::Error on an invalid config.
  TransformerModelImpl(const ScGptConfig& config, int64_t pad_token_id);

  // src (batch, seq) int64 gene ids; values (batch, seq) float; src_key_padding_mask (batch, seq)
  // bool, true at pads; batch_labels (batch,) int64, required with use_batch_labels or
  // domain_spec_batchnorm and refused otherwise (dsbn uses batch_labels[0] for the whole batch,
  // as scGPT does). Throws scfm::Error naming the argument on wrong shapes or dtypes.
  // pert_flags (batch, seq) int64 in {0, 1, 2}: required with config.pert_flags, refused otherwise.
  ForwardOutput forward(const at::Tensor& src, const at::Tensor& values, const at::Tensor& src_key_padding_mask,
                        const at::Tensor& batch_labels = {}, const ForwardOptions& options = {},
                        const at::Tensor& pert_flags = {});
  // The transformer output (batch, seq, embsize): TransformerModel._encode.
  at::Tensor encode(const at::Tensor& src, const at::Tensor& values, const at::Tensor& src_key_padding_mask,
                    const at::Tensor& batch_labels = {}, const at::Tensor& pert_flags = {});
  // What _encode gives transformer_encoder (batch, seq, embsize): gene + value encodings (and
  // pert_encoder, batch norm). For the attention GRN, which runs the layers itself.
  at::Tensor encoder_input(const at::Tensor& src, const at::Tensor& values, const at::Tensor& src_key_padding_mask,
                           const at::Tensor& batch_labels = {}, const at::Tensor& pert_flags = {});
  // Cell embedding of a layer output by config.cell_emb_style; w-pool needs weights (batch, seq).
  at::Tensor cell_embedding(const at::Tensor& layer_output, const at::Tensor& weights = {}) const;

  ScGptConfig config;
  int64_t pad_token_id;

  EmbeddingEncoder encoder{nullptr};
  ContinuousValueEncoder continuous_value_encoder{nullptr};  // registered as value_encoder
  EmbeddingEncoder category_value_encoder{nullptr};          // registered as value_encoder
  EmbeddingEncoder batch_encoder{nullptr};
  DomainSpecificBatchNorm dsbn{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
  TransformerEncoder transformer_encoder{nullptr};
  ExprDecoder decoder{nullptr};
  StackedDecoder cls_decoder{nullptr};
  MvcDecoder mvc_decoder{nullptr};
  StackedDecoder grad_reverse_discriminator{nullptr};
  torch::nn::Embedding pert_encoder{nullptr};
  AffineExprDecoder affine_decoder{nullptr};  // registered as decoder with pert_flags

 private:
  // Returns (transformer input, gene token embeddings).
  std::pair<at::Tensor, at::Tensor> input_impl(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask,
                                               const at::Tensor& batch_labels, const at::Tensor& pert_flags);
  // Returns (transformer output, gene token embeddings).
  std::pair<at::Tensor, at::Tensor> encode_impl(const at::Tensor& src, const at::Tensor& values,
                                                const at::Tensor& mask, const at::Tensor& batch_labels,
                                                const at::Tensor& pert_flags);
};
TORCH_MODULE(TransformerModel);

// Total number of elements of the parameters (buffers excluded).
int64_t parameter_count(const torch::nn::Module& module);

}  // namespace scfm::model::scgpt
