// ScGptConfig: the constructor arguments of scGPT's TransformerModel, read from and written to a
// checkpoint folder's args.json with the keys scGPT's released checkpoints use.
//
// Light header (no LibTorch): config code and cli/ include it without the modules.
//
// args.json keys read (released whole-human checkpoint, cellxgene_census_human-May23):
//   embsize, nheads, d_hid, nlayers, n_layers_cls, dropout, pad_token, pad_value, mask_value,
//   n_bins, input_emb_style, fast_transformer, MVC, max_seq_len, input_style, ...
// plus keys naming the remaining constructor arguments (as the scfm fixtures write them):
//   ntoken, n_cls, n_input_bins, cell_emb_style, mvc_decoder_style, do_mvc, explicit_zero_prob,
//   pre_norm, use_batch_labels, num_batch_labels, domain_spec_batchnorm, do_dab, ecs_threshold,
//   layer_norm_eps, activation, batch_first, norm_first, value_max_clamp, cls_value.
// A key that is absent takes the value scGPT's own loaders use for released checkpoints
// (scgpt/tasks/cell_emb.py: n_cls 1, do_mvc true, explicit_zero_prob false, no batch labels).
// Training-only keys (lr, epochs, batch_size, ...) are kept verbatim in `training`; keys scfm does
// not know are listed in `unknown_keys` (a note, never an error).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace scfm::model::scgpt {

struct ScGptConfig {
  // Sizes.
  int64_t ntoken = -1;       // vocabulary size; -1 = take it from vocab.json
  int64_t embsize = 512;     // d_model
  int64_t nheads = 8;
  int64_t d_hid = 512;       // feed-forward width
  int64_t nlayers = 12;
  int64_t n_layers_cls = 3;  // ClsDecoder depth (nlayers_cls)
  int64_t n_cls = 1;
  double dropout = 0.2;

  // Tokens and values.
  std::string pad_token = "<pad>";
  double pad_value = -2;      // value at pads; for "category", also the value embedding's padding_idx
  double mask_value = -1;
  int64_t n_bins = 51;
  int64_t n_input_bins = -1;  // "category" only: value-embedding rows; -1 = n_bins + 2
  double value_max_clamp = 512;  // ContinuousValueEncoder clamps values above this
  std::string input_style = "binned";   // data preparation; informational
  int64_t max_seq_len = -1;             // informational

  // Architecture choices.
  std::string input_emb_style = "continuous";  // "continuous" | "category" | "scaling"
  std::string cell_emb_style = "cls";          // "cls" | "avg-pool" | "w-pool"
  std::string mvc_decoder_style = "inner product";  // | "inner product, detach" | "concat query" | "sum query"
  bool do_mvc = true;
  bool explicit_zero_prob = false;
  bool use_batch_labels = false;
  int64_t num_batch_labels = 0;
  // "" (none) | "dsbn" (json true) | "batchnorm" | "do_affine" (scGPT builds no norm for it).
  std::string domain_spec_batchnorm;
  bool do_dab = false;
  // scGPT's TransformerGenerator (perturbation prediction): a perturbation-flag embedding
  // pert_encoder = nn.Embedding(3, embsize, padding_idx = 2) added to every token (flags 0 = not
  // perturbed, 1 = perturbed, 2 = pad). scfm key "pert_flags".
  bool pert_flags = false;
  // Whether the model has a cls_decoder. scGPT always builds one, but its released pretrained
  // checkpoints hold none (no classification in pretraining); load_checkpoint_folder sets this
  // false for such a file when args.json does not give n_cls. scfm key "cls_decoder".
  bool cls_decoder = true;
  double ecs_threshold = 0.3;
  bool fast_transformer = false;  // trained with flash-attn (weights may carry Wqkv names)
  // scGPT's flash layer's "pre" norm scheme; scGPT applies it only when fast_transformer is true
  // (its standard layers are always post-norm), and so does scfm.
  bool pre_norm = false;
  double layer_norm_eps = 1e-5;  // encoder layers' LayerNorms (scGPT: PyTorch's default)
  std::string activation = "relu";  // encoder feed-forward: "relu" | "gelu"

  // Keys scfm recognised but does not use for the model (training settings), verbatim.
  nlohmann::json training = nlohmann::json::object();
  // Keys scfm does not recognise, sorted by name (they are also kept in `training`).
  std::vector<std::string> unknown_keys;

  int64_t input_bins() const { return n_input_bins > 0 ? n_input_bins : n_bins + 2; }
  // "pre" or "post": the encoder-layer norm scheme actually used (see pre_norm).
  std::string norm_scheme() const { return pre_norm && fast_transformer ? "pre" : "post"; }

  // Throws scfm::FormatError(source, key, what) on a wrong type or an invalid value.
  static ScGptConfig from_json(const nlohmann::json& args, const std::string& source = "args.json");
  static ScGptConfig load(const std::string& args_json_path);
  // Every model key plus `training`, keys sorted (from_json(to_json()) gives the same config).
  nlohmann::json to_json() const;
  // Throws scfm::Error naming the field when values cannot build a model.
  void validate(const std::string& source = "config") const;
};

}  // namespace scfm::model::scgpt
