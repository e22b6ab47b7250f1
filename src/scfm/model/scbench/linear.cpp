#include "scfm/model/scbench/linear.h"

#include <ATen/ops/adaptive_avg_pool1d.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/relu.h>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

Linear1DLayerImpl::Linear1DLayerImpl(int64_t channels, int64_t in_length, int64_t out_length) {
  linear_channel = register_module("linear_channel", torch::nn::Linear(channels, channels));
  linear_seq = register_module("linear_seq", torch::nn::Linear(in_length, out_length));
  bn = register_module("bn", torch::nn::BatchNorm1d(channels));
}

// The original transposes to B x E x L, applies linear_seq along L and BatchNorm1d over E, and
// transposes back. linear_seq on that strided view makes matmul expand the weight over the batch
// (bmm forward, bmm + a sum over the batch for its gradient: half of a training step). Here the
// same arithmetic is one GEMM, W (L' x L) times h laid out as L x (B * E); its result is copied
// into the B x E x L' layout the original hands to the batch norm, so that everything from there
// on is the original's graph. (A batch norm over B * L' rows of E, the same statistics without
// the copy, met a LibTorch 1.13 batch-norm backward that read uninitialised memory when the
// incoming gradient was strided.)
at::Tensor Linear1DLayerImpl::forward(const at::Tensor& x) {
  // contiguous: the previous block hands over a transposed view, and linear on a strided 3-D
  // input is again a bmm with the weight expanded over the batch
  at::Tensor h = linear_channel->forward(x.contiguous());  // B x L x E
  const int64_t B = h.size(0), L = h.size(1), E = h.size(2), out = linear_seq->weight.size(0);
  at::Tensor z = at::addmm(linear_seq->bias.unsqueeze(1), linear_seq->weight, h.transpose(0, 1).reshape({L, B * E}));
  return bn->forward(z.view({out, B, E}).permute({1, 2, 0}).contiguous()).transpose(1, 2);  // B x L' x E
}

LinearOursImpl::LinearOursImpl(const LinearOursOptions& o) : options(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  int64_t length = o.seq_length();
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    const int64_t out = i == o.num_layers() - 1 ? 1 : length / 2;
    if (out < 1)
      throw Error("linear_ours: " + std::to_string(o.num_layers()) + " layers halve " +
                  std::to_string(o.seq_length()) + " tokens to none before the last layer; use fewer layers "
                  "or a longer train_maxseq");
    blocks.emplace_back(o.channels(), length, out);
    layers->push_back(blocks.back());
    length = out;
  }
}

at::Tensor LinearOursImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& /*pad_mask*/) {
  if (x.dim() != 3 || x.size(1) != options.seq_length())
    throw Error("linear_ours: input must be B x " + std::to_string(options.seq_length()) + " x E (train_maxseq + 1 "
                "tokens), got " + std::to_string(x.dim() == 3 ? x.size(1) : -1) + " tokens");
  at::Tensor h = x;
  for (auto& block : blocks) {
    at::Tensor y = at::gelu(block->forward(h));
    at::Tensor identity = at::adaptive_avg_pool1d(h.transpose(1, 2), {y.size(1)}).transpose(1, 2);
    h = y + identity;
  }
  return h.squeeze(1);  // B x E
}

FfnImpl::FfnImpl(int64_t features) {
  fc1 = register_module("fc1", torch::nn::Linear(features, features));
  fc2 = register_module("fc2", torch::nn::Linear(features, features));
}

at::Tensor FfnImpl::forward(const at::Tensor& x) { return fc2->forward(at::relu(fc1->forward(x))); }

LinearBaseImpl::LinearBaseImpl(const LinearBaseOptions& o) : options(o) {
  ffns = register_module("ffns", torch::nn::ModuleList());
  layer_norms = register_module("layer_norms", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    ffn_list.emplace_back(o.features());
    ffns->push_back(ffn_list.back());
    norms.emplace_back(torch::nn::LayerNormOptions({o.features()}));
    layer_norms->push_back(norms.back());
  }
}

at::Tensor LinearBaseImpl::forward(const at::Tensor& x, const at::Tensor& /*src*/, const at::Tensor& /*pad_mask*/) {
  at::Tensor h = x;
  for (size_t i = 0; i < ffn_list.size(); ++i) h = at::gelu(norms[i]->forward(ffn_list[i]->forward(h))) + h;
  return h;
}

}  // namespace scfm::model::scbench
