// scBenchmark's scModel (models_utils/model.py) in LibTorch: one gene-expression model with a
// choice of encoder ("model_structure": transformer, gnn_cp, cnn_base, cnn_ours, linear_ours,
// linear_base; not mamba, see options.h).
//
//   gene_emb  = Embedding(ntoken, dict_size)(src), then emb_trans (Linear dict_size -> embsize)
//               when dict_size != embsize
//   value_emb = value_encoder(min(values, max_value))      Linear(1, E) - ReLU - Linear(E, E)
//   h         = encoder(gene_emb + value_emb, src, key_padding_mask)      no positional encoding
//   per-token encoders (transformer, gnn_cp, linear_base):
//     mlm_output = decoder(h)                 Linear-LeakyReLU-Linear-LeakyReLU-Linear(E, 1)
//     cell_emb   = h[:, 0] ("cls") or mean of h over all T tokens ("avg-pool")
//   pooled encoders (cnn_base, cnn_ours, linear_ours): cell_emb = h; mlm_output = mvc_output
//   mvc_output = <gene2query(gene_emb), cell_emb> per token, gene_emb detached (no gradient
//                flows into the gene embedding through this head)
//
// Parameter names equal the original's state_dict() keys (embedding.weight, emb_trans.*,
// value_encoder.{0,2}.*, encoder.*, decoder.{0,2,4}.*, gene2query.{0,2,4}.*, and the unused
// layer_norm.*), so scBenchmark's best_model.pt loads by name (state_dict.h).
//
// cnn_ours feeds the encoder the tokens of each cell sorted by their position in the vocabulary
// with <cls> first and pads last (the original's global_index_map, built from the vocab size and
// the <pad>/<cls> ids here instead of a hard-coded 60,697-token table on the GPU); the MVC head
// keeps the input order.
//
// Inputs: src int64 B x T (ids in [0, ntoken)), values float B x T, key_padding_mask bool B x T
// (true at pads; may be undefined = no pads). cnn_base, cnn_ours and linear_ours need exactly
// train_maxseq + 1 tokens. Shape, dtype and id errors throw scfm::Error naming the input.
// Outputs are on the inputs' device; the module and inputs must share a device.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <memory>

#include "scfm/model/scbench/backbone.h"
#include "scfm/model/scbench/options.h"

namespace scfm::model::scbench {

struct ScModelOutput {
  at::Tensor mlm_output;  // B x T: expression predicted per token
  at::Tensor mvc_output;  // B x T: expression predicted from the cell embedding and gene queries
  at::Tensor cell_emb;    // B x E
  at::Tensor tokens;      // B x T x E: the encoder's output (per-token encoders only)
};

class ScModelImpl : public torch::nn::Module {
 public:
  // Throws scfm::Error when the config cannot build a model (ScModelConfig::validate).
  ScModelImpl(const ScModelConfig& config, int64_t vocab_size);

  // loss_positions (optional, bool B x T): the positions a loss will read (the masked genes).
  // When given, the MLM decoder and the MVC head run there only (on those tokens, and gene2query
  // on the genes found there) and leave 0 elsewhere: the same loss and gradients for less work
  // (the MVC head's gene2query was half of linear_ours' training arithmetic).
  ScModelOutput forward(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask,
                        const at::Tensor& loss_positions = {});
  // scBenchmark's perturbation variant (models_utils/model_perturb.py): the same network reading
  // gene identities only (values are not embedded: the original passes zeros and its forward
  // ignores them) with cls_offset (B x dict_size, or 1 x dict_size for every cell) added to the
  // <cls> token's gene embedding before emb_trans. Outputs as forward(); mvc_output at <cls> uses
  // the gene query without the offset (the original's includes it; no loss reads that position).
  ScModelOutput forward_gene_only(const at::Tensor& src, const at::Tensor& key_padding_mask, const at::Tensor& cls_offset);
  // What forward() gives the encoder (B x T x embsize): gene embedding (and emb_trans) plus the
  // value encoding. For the attention GRN, which runs the transformer's layers itself.
  at::Tensor encoder_input(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask);

  const ScModelConfig& config() const { return config_; }
  Structure structure() const { return structure_; }
  int64_t vocab_size() const { return vocab_size_; }
  // Tokens the input must have, or -1 when any length works.
  int64_t required_length() const;

  torch::nn::Embedding embedding{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};  // registered, unused (as in the original)
  torch::nn::Linear emb_trans{nullptr};      // only when dict_size != embsize
  Mlp value_encoder{nullptr};
  std::shared_ptr<BackboneImpl> encoder;
  Mlp decoder{nullptr};
  Mlp gene2query{nullptr};

 private:
  void check_inputs(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask) const;
  struct TokenInput {
    at::Tensor total;       // B x T x embsize, the encoder's input
    at::Tensor per_gene;    // distinct genes x embsize (after emb_trans)
    at::Tensor token_gene;  // B*T: each token's row of per_gene
  };
  TokenInput token_input(const at::Tensor& src, const at::Tensor& values, const at::Tensor& cls_offset);
  ScModelOutput forward_impl(const at::Tensor& src, const at::Tensor& values, const at::Tensor& key_padding_mask,
                             const at::Tensor& loss_positions, const at::Tensor& cls_offset);
  // cnn_ours: the permutation (B x T) that sorts each row by vocabulary position.
  at::Tensor vocab_order(const at::Tensor& src) const;

  ScModelConfig config_;
  Structure structure_;
  int64_t vocab_size_;
};
TORCH_MODULE(ScModel);

// Builds an initialised model (scModel._init_weights: xavier_uniform_ embeddings and heads).
ScModel make_scbench_model(const ScModelConfig& config, int64_t vocab_size);

}  // namespace scfm::model::scbench
