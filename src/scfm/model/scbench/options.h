// scBenchmark's model configuration (the `args` its scModel is built from), without LibTorch.
//
// ScModelConfig mirrors the args.json keys scBenchmark writes (util_ours/argparse_config.py) plus
// the keys its fixtures add. A key missing from args.json takes the original's default (listed per
// field); a key that no field mirrors is ignored and listed in `ignored_keys` (scBenchmark's
// args.json also holds training keys: lr, batch_size, paths, ...). A key that is present with the
// wrong JSON type, or a value the model cannot use, is a scfm::FormatError naming the key.
//
// Header only needs nlohmann/json, so config and CLI code can include it without the modules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace scfm::model::scbench {

// The encoders scModel builds from `model_structure` ("mamba" is not supported: it needs the
// mamba_ssm package, which the released code does not ship, so the original cannot run it either).
enum class Structure {
  kTransformer,  // "transformer" or "transformer_ours": torch.nn.TransformerEncoder, batch_first
  kGnnCp,        // "gnn_cp": gene-factor graph convolution (GNN_cp)
  kCnnBase,      // "cnn_base": 1-D convolutions over the tokens in input order (CNNModel)
  kCnnOurs,      // "cnn_ours": the same CNN over the tokens reordered by vocabulary id
  kLinearOurs,   // "linear_ours": linear mixing along channels and along the (fixed) sequence
  kLinearBase,   // "linear_base": per-token feed-forward blocks (LinearModel_Base)
};

// "transformer", "gnn_cp", ... -> Structure; throws scfm::Error naming the supported ones.
Structure parse_structure(const std::string& name);
const char* structure_name(Structure s);

struct ScModelConfig {
  // args.model_structure; default "transformer".
  std::string model_structure = "transformer";
  // args.nlayers: encoder layers (default 6).
  int64_t nlayers = 6;
  // args.nheads: attention heads; transformer only (default 8). embsize must be a multiple.
  int64_t nheads = 8;
  // args.embsize: d_model of the encoder, the value encoder and the heads (default 256).
  int64_t embsize = 256;
  // args.dict_size: width of the gene embedding table (default 256). When it differs from
  // embsize, a Linear `emb_trans` maps dict_size -> embsize. NOTE: the released scModel ignores
  // args.dict_size and always uses 256; set 256 here to load a checkpoint trained with another
  // --dict_size (a shape mismatch on embedding.weight says so).
  int64_t dict_size = 256;
  // args.dropout (default 0.15); used in training mode only.
  double dropout = 0.15;
  // args.cell_emb_style: "cls" (first token) or "avg-pool" (mean over all T tokens, pads
  // included, as the original does); only structures with per-token output (transformer,
  // gnn_cp, linear_base) use it. Default "cls".
  std::string cell_emb_style = "cls";
  // args.pad_token (default "<pad>").
  std::string pad_token = "<pad>";
  // Values are clamped to at most max_value before the value encoder (the original hard-codes
  // 512; fixture key "max_value").
  double max_value = 512;
  // args.mask_value / pad_value / cls_value: the input values the tokenizer writes at masked
  // genes, pads and <cls> (defaults -1, 0, 0). Kept for round trips; the model does not read them.
  double mask_value = -1;
  double pad_value = 0;
  double cls_value = 0;
  // args.train_maxseq: genes per cell in training (default 512). cnn_base, cnn_ours and
  // linear_ours take exactly train_maxseq + 1 tokens (the genes and <cls>).
  int64_t train_maxseq = 512;
  // Transformer layer keys (the released code hard-codes batch_first=True, post-LN, ReLU and a
  // feed-forward width of embsize; these defaults reproduce it). dim_feedforward 0 = embsize.
  bool batch_first = true;
  bool norm_first = false;
  int64_t dim_feedforward = 0;
  std::string activation = "relu";  // "relu" or "gelu"

  // Vocabulary ids of the pad and <cls> tokens (not in args.json: the original reads them from
  // its vocab). pad_token_id sets the embedding's padding row at initialisation; cnn_ours needs
  // both to order the tokens. -1 = unknown.
  int64_t pad_token_id = -1;
  int64_t cls_token_id = -1;

  // Keys of the parsed args.json that no field mirrors (sorted).
  std::vector<std::string> ignored_keys;

  Structure structure() const { return parse_structure(model_structure); }
  int64_t feedforward_width() const { return dim_feedforward > 0 ? dim_feedforward : embsize; }

  // Throws scfm::Error naming the first field that the model cannot be built with.
  void validate() const;

  // `source` names the file in error messages.
  static ScModelConfig from_json(const nlohmann::json& args, const std::string& source = "args.json");
  static ScModelConfig load(const std::string& args_json_path);
  // The mirrored keys (ignored keys and token ids are not written).
  nlohmann::json to_json() const;
};

}  // namespace scfm::model::scbench
