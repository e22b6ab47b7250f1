// scBenchmark's "gnn_cp" encoder (models_utils/gnn_cp.py, GNN_cp): per layer, a dense graph over
// the cell's tokens whose edge weights come from learned per-gene factors,
//   adj = softmax_keys( T(F'[src]) T(F'[src])^T + F[src] F[src]^T ), padded keys masked out,
// with T = Linear-GELU-Linear on the factors; then x <- x + gelu(LayerNorm(Linear(adj x))).
// Names: layers.<i>.factor, layers.<i>.factor_linear (ntoken x k, k = 64), layers.<i>.linear,
// layers.<i>.linear_trans.{0,2}, layer_norms.<i>.
//
// Called with src as the released code intends (`encoder(gene_emb + value_emb, src, pad_mask)`):
// the released scModel.forward calls it without src, which raises a TypeError in PyTorch.
#pragma once

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "scfm/model/scbench/backbone.h"

namespace scfm::model::scbench {

struct GnnCpOptions {
  GnnCpOptions(int64_t hidden, int64_t ntoken) : hidden_(hidden), ntoken_(ntoken) {}
  TORCH_ARG(int64_t, hidden);      // d_model
  TORCH_ARG(int64_t, ntoken);      // vocabulary size (rows of the factor tables)
  TORCH_ARG(int64_t, k) = 64;      // factor width (GraphConvolution's default)
  TORCH_ARG(int64_t, num_layers) = 1;
  TORCH_ARG(double, dropout) = 0;  // registered but unused by the original forward
};

struct GraphConvolutionImpl : torch::nn::Module {
  GraphConvolutionImpl(int64_t in_features, int64_t out_features, int64_t ntoken, int64_t k);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask);

  at::Tensor factor_linear, factor;  // ntoken x k, initialised uniform [0, 1) as torch.rand
  torch::nn::Linear linear{nullptr};
  Mlp linear_trans{nullptr};
  double temperature = 1.0;
};
TORCH_MODULE(GraphConvolution);

class GnnCpImpl : public BackboneImpl {
 public:
  explicit GnnCpImpl(const GnnCpOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& src, const at::Tensor& pad_mask) override;
  bool per_token() const override { return true; }

  GnnCpOptions options;
  torch::nn::ModuleList layers, layer_norms;
  std::vector<GraphConvolution> convs;
  std::vector<torch::nn::LayerNorm> norms;
};
TORCH_MODULE(GnnCp);

}  // namespace scfm::model::scbench
