#include "scfm/model/scgpt/transformer_model.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/bernoulli.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/cosine_similarity.h>
#include <ATen/ops/cross_entropy_loss.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/mean.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sum.h>
#include <torch/nn/init.h>
#include <torch/utils.h>

#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace nn = torch::nn;

namespace {


at::Tensor l2_normalize(const at::Tensor& x) {  // F.normalize(x, p=2, dim=1)
  return x / x.norm(2, {1}, true).clamp_min(1e-12);
}

}  // namespace

TransformerModelImpl::TransformerModelImpl(const ScGptConfig& c, int64_t pad_id) : config(c), pad_token_id(pad_id) {
  config.validate();
  if (config.ntoken <= 0) throw Error("scGPT: config.ntoken is not set (give the vocabulary size)");
  if (pad_id >= config.ntoken)
    throw Error("scGPT: pad token id " + std::to_string(pad_id) + " is outside the vocabulary of " +
                std::to_string(config.ntoken));
  const int64_t d = config.embsize;

  encoder = register_module("encoder", EmbeddingEncoder(config.ntoken, d, pad_id));
  if (config.input_emb_style == "continuous") {
    continuous_value_encoder = register_module(
        "value_encoder", ContinuousValueEncoder(d, config.dropout, config.value_max_clamp));
  } else if (config.input_emb_style == "category") {
    category_value_encoder = register_module(
        "value_encoder", EmbeddingEncoder(config.input_bins(), d, static_cast<int64_t>(config.pad_value)));
  }
  if (config.use_batch_labels)
    batch_encoder = register_module("batch_encoder", EmbeddingEncoder(config.num_batch_labels, d));
  if (config.domain_spec_batchnorm == "dsbn") {
    // scGPT passes affine = (domain_spec_batchnorm == "do_affine"), which is false on this branch.
    dsbn = register_module("dsbn", DomainSpecificBatchNorm(d, config.num_batch_labels, 6.1e-5, false));
  } else if (config.domain_spec_batchnorm == "batchnorm") {
    bn = register_module("bn", nn::BatchNorm1d(nn::BatchNorm1dOptions(d).eps(6.1e-5)));
  }

  EncoderLayerOptions layer;
  layer.d_model = d;
  layer.nhead = config.nheads;
  layer.dim_feedforward = config.d_hid;
  layer.dropout = config.dropout;
  layer.activation = config.activation;
  layer.layer_norm_eps = config.layer_norm_eps;
  layer.norm_scheme = config.norm_scheme();
  transformer_encoder = register_module("transformer_encoder", TransformerEncoder(layer, config.nlayers));

  if (config.pert_flags) {
    if (config.use_batch_labels) throw Error("scGPT: pert_flags (TransformerGenerator) does not take batch labels");
    affine_decoder = register_module("decoder", AffineExprDecoder(d, config.explicit_zero_prob));
  } else {
    decoder = register_module("decoder", ExprDecoder(d, config.explicit_zero_prob, config.use_batch_labels));
  }
  if (config.cls_decoder)
    cls_decoder = register_module("cls_decoder", StackedDecoder(d, config.n_cls, config.n_layers_cls, false, false));
  if (config.do_mvc)
    mvc_decoder = register_module(
        "mvc_decoder", MvcDecoder(d, config.mvc_decoder_style, config.explicit_zero_prob, config.use_batch_labels));
  if (config.do_dab)
    grad_reverse_discriminator = register_module(
        "grad_reverse_discriminator", StackedDecoder(d, config.num_batch_labels, 3, true, true));

  if (config.pert_flags)
    pert_encoder = register_module("pert_encoder", nn::Embedding(nn::EmbeddingOptions(3, d).padding_idx(2)));

  // scGPT's init_weights: the gene embedding (every row, the pad row included) ~ U(-0.1, 0.1).
  torch::NoGradGuard no_grad;
  nn::init::uniform_(encoder->embedding->weight, -0.1, 0.1);
}

std::pair<at::Tensor, at::Tensor> TransformerModelImpl::input_impl(const at::Tensor& src, const at::Tensor& values,
                                                                   const at::Tensor& mask, const at::Tensor& batch_labels,
                                                                   const at::Tensor& pert_flags) {
  if (src.dim() != 2 || !at::isIntegralType(src.scalar_type(), false))
    throw Error("scGPT forward: src should be an integer (batch, seq) tensor of gene ids, got " +
                std::string(c10::toString(src.scalar_type())) + " " + shape_string(src));
  if (!values.defined() || values.sizes() != src.sizes())
    throw Error("scGPT forward: values " + (values.defined() ? shape_string(values) : std::string("(undefined)")) +
                " should have the shape of src " + shape_string(src));
  if (mask.defined() && (mask.sizes() != src.sizes() || mask.scalar_type() != at::kBool))
    throw Error("scGPT forward: src_key_padding_mask should be a bool tensor of the shape of src " + shape_string(src) +
                ", got " + std::string(c10::toString(mask.scalar_type())) + " " + shape_string(mask));
  const bool needs_labels = config.use_batch_labels || !config.domain_spec_batchnorm.empty();
  if (needs_labels && !batch_labels.defined())
    throw Error("scGPT forward: batch_labels are required (use_batch_labels or domain_spec_batchnorm is set)");
  if (!needs_labels && batch_labels.defined())
    throw Error("scGPT forward: batch_labels should only be given when use_batch_labels or "
                "domain_spec_batchnorm is set");
  if (batch_labels.defined() && (batch_labels.dim() != 1 || batch_labels.size(0) != src.size(0)))
    throw Error("scGPT forward: batch_labels " + shape_string(batch_labels) + " should be (batch,) = (" +
                std::to_string(src.size(0)) + ")");

  if (config.pert_flags != pert_flags.defined())
    throw Error(config.pert_flags ? "scGPT forward: pert_flags are required (the model has a pert_encoder)"
                                  : "scGPT forward: pert_flags given, but the model has no pert_encoder");
  if (pert_flags.defined() && pert_flags.sizes() != src.sizes())
    throw Error("scGPT forward: pert_flags " + shape_string(pert_flags) + " should have the shape of src " + shape_string(src));
  at::Tensor gene = encoder->forward(src.to(at::kLong), "gene id (src)");
  at::Tensor total;
  if (continuous_value_encoder) {
    total = gene + continuous_value_encoder(values.to(gene.scalar_type()));
  } else if (category_value_encoder) {
    total = gene + category_value_encoder->forward(values.to(at::kLong), "category value (bin id)");
  } else {  // scaling
    total = gene * values.to(gene.scalar_type()).unsqueeze(2);
  }
  if (pert_encoder) {
    const at::Tensor f = pert_flags.to(at::kLong);
    if (f.numel() > 0 && (f.min().item<int64_t>() < 0 || f.max().item<int64_t>() > 2))
      throw Error("scGPT forward: pert_flags must be 0 (not perturbed), 1 (perturbed) or 2 (pad)");
    total = total + pert_encoder(f);
  }
  if (dsbn) {
    total = dsbn->forward(total.permute({0, 2, 1}), batch_labels[0].item<int64_t>()).permute({0, 2, 1});
  } else if (bn) {
    total = bn(total.permute({0, 2, 1})).permute({0, 2, 1});
  }
  return {total, gene};
}

std::pair<at::Tensor, at::Tensor> TransformerModelImpl::encode_impl(const at::Tensor& src, const at::Tensor& values,
                                                                    const at::Tensor& mask,
                                                                    const at::Tensor& batch_labels,
                                                                    const at::Tensor& pert_flags) {
  auto [total, gene] = input_impl(src, values, mask, batch_labels, pert_flags);
  return {transformer_encoder(total, mask), gene};
}

at::Tensor TransformerModelImpl::encoder_input(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask,
                                               const at::Tensor& batch_labels, const at::Tensor& pert_flags) {
  return input_impl(src, values, mask, batch_labels, pert_flags).first;
}

at::Tensor TransformerModelImpl::encode(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask,
                                        const at::Tensor& batch_labels, const at::Tensor& pert_flags) {
  return encode_impl(src, values, mask, batch_labels, pert_flags).first;
}

at::Tensor TransformerModelImpl::cell_embedding(const at::Tensor& out, const at::Tensor& weights) const {
  if (config.cell_emb_style == "cls") return out.select(1, 0);
  if (config.cell_emb_style == "avg-pool") return out.mean(1);
  if (!weights.defined()) throw Error("scGPT: cell_emb_style w-pool needs weights (the values)");
  if (weights.dim() != 2) throw Error("scGPT: w-pool weights should be 2D, got " + shape_string(weights));
  return l2_normalize(at::sum(out * weights.to(out.scalar_type()).unsqueeze(2), {1}));
}

ForwardOutput TransformerModelImpl::forward(const at::Tensor& src, const at::Tensor& values, const at::Tensor& mask,
                                            const at::Tensor& batch_labels, const ForwardOptions& o,
                                            const at::Tensor& pert_flags) {
  auto [out, gene] = encode_impl(src, values, mask, batch_labels, pert_flags);
  at::Tensor batch_emb;
  if (config.use_batch_labels) batch_emb = batch_encoder->forward(batch_labels.to(at::kLong), "batch label");

  ForwardOutput r;
  at::Tensor dec_in = out;
  if (batch_emb.defined())
    dec_in = at::cat({out, batch_emb.unsqueeze(1).expand({-1, out.size(1), -1})}, 2);
  auto [pred, zero_probs] = affine_decoder ? affine_decoder(dec_in, values) : decoder(dec_in);
  r.mlm_output = config.explicit_zero_prob && o.do_sample ? at::bernoulli(zero_probs) * pred : pred;
  if (config.explicit_zero_prob) r.mlm_zero_probs = zero_probs;

  r.cell_emb = cell_embedding(out, values);
  r.tokens = out;
  if (o.cls) {
    if (!cls_decoder)
      throw Error("scGPT forward: CLS output asked for, but the model has no cls_decoder (its checkpoint had none; "
                  "give n_cls in args.json to build one)");
    r.cls_output = cls_decoder(r.cell_emb);
  }
  if (o.cce) {
    at::Tensor cell2 = cell_embedding(encode_impl(src, values, mask, batch_labels, pert_flags).first, values);
    at::Tensor cos = at::cosine_similarity(r.cell_emb.unsqueeze(1), cell2.unsqueeze(0), -1) / 0.5;
    at::Tensor labels = at::arange(cos.size(0), cos.options().dtype(at::kLong));
    r.loss_cce = at::cross_entropy_loss(cos, labels);
  }
  if (o.mvc) {
    if (!mvc_decoder) throw Error("scGPT forward: MVC output asked for, but the model has no mvc_decoder (do_mvc false)");
    at::Tensor c = batch_emb.defined() ? at::cat({r.cell_emb, batch_emb}, 1) : r.cell_emb;
    auto [mvc, mvc_zero] = mvc_decoder(c, gene);
    r.mvc_output = config.explicit_zero_prob && o.do_sample ? at::bernoulli(mvc_zero) * mvc : mvc;
    if (config.explicit_zero_prob) r.mvc_zero_probs = mvc_zero;
  }
  if (o.ecs) {
    at::Tensor n = l2_normalize(r.cell_emb);
    at::Tensor cos = at::mm(n, n.t());
    cos = at::relu(cos.masked_fill(at::eye(cos.size(0), cos.options().dtype(at::kBool)), 0.0));
    r.loss_ecs = at::mean(1 - (cos - config.ecs_threshold).pow(2));
  }
  if (grad_reverse_discriminator) r.dab_output = grad_reverse_discriminator(r.cell_emb);
  return r;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(true))
    if (p.defined()) n += p.numel();
  return n;
}

}  // namespace scfm::model::scgpt
