// What training and the tasks need from any masked-expression model (scBenchmark's scModel
// with any backbone, scGPT's TransformerModel): one forward over a padded batch, its module
// (parameters, train/eval), and the args.json that rebuilds it.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <memory>
#include <string>

namespace scfm::model {

struct MlmOutputs {
  at::Tensor mlm;              // B x T predicted values (MLM head)
  at::Tensor mvc;              // B x T (MVC head), undefined when the model has none
  at::Tensor mlm_zero_probs;   // B x T, scGPT with explicit_zero_prob only
  at::Tensor mvc_zero_probs;   // B x T, idem
  at::Tensor cell_emb;         // B x E: the model's own cell embedding (its cell_emb_style)
  at::Tensor tokens;           // B x T x E: the encoder's output per token (undefined for backbones
                               // that pool inside: cnn_base, cnn_ours, linear_ours)
};

class PretrainModel {
 public:
  virtual ~PretrainModel() = default;
  // genes int64 B x T (<cls> first), values float32 B x T (masked positions hold mask_value),
  // key_padding_mask bool B x T (true at pads). loss_positions (optional, bool B x T): where the
  // loss reads the outputs; a model may then compute its heads there only and leave 0 elsewhere.
  virtual MlmOutputs forward(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& key_padding_mask,
                             const at::Tensor& loss_positions = {}) = 0;
  virtual torch::nn::Module& module() = 0;
  // The configuration in the original project's args.json keys.
  virtual nlohmann::json args() const = 0;
  virtual std::string structure() const = 0;
  // Whether forward() fills MlmOutputs::tokens (false for backbones that pool inside).
  virtual bool per_token() const = 0;
  // The data-independent embedding of gene tokens, ids int64 (N) -> N x E, as scGPT's GRN tutorial
  // takes it (model.encoder(gene_ids): the embedding and its LayerNorm); scBenchmark's models: the
  // embedding (and emb_trans when the table is narrower than the model).
  virtual at::Tensor gene_embeddings(const at::Tensor& ids) = 0;
  // Self-attention scores of encoder layer `layer` (0-based; negative counts from the end, -1 =
  // the last), as scGPT's attention-GRN tutorial takes them: the input embedded and run through
  // the layers before it as forward() runs them, then q k^T / sqrt(D) per head from that layer's
  // in_proj: B x H x T x T (query rows, key columns), -inf at padded keys. Call in eval mode
  // under no_grad. Throws scfm::Error for backbones without self-attention and for a layer out of
  // range.
  virtual at::Tensor attention_logits(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& key_padding_mask,
                                      int64_t layer) = 0;
};

}  // namespace scfm::model
