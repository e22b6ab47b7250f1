// Loading scGPT checkpoints: a state dict into a TransformerModel, and whole checkpoint folders
// (args.json, best_model.pt or model.pt, vocab.json) as scGPT's releases and scfm runs write them.
//
// Names are matched exactly after these renames, which scGPT's own load_pretrained applies when it
// runs without flash-attn:
//   *.self_attn.Wqkv.{weight,bias}        -> *.self_attn.in_proj_{weight,bias}   (flash-attn 1.x FlashMHA)
//   *.self_attn._impl.Wqkv.{weight,bias}  -> *.self_attn.in_proj_{weight,bias}   (scGPT's flash wrapper)
//   *.self_attn._impl.out_proj.*          -> *.self_attn.out_proj.*
// and keys starting "flag_encoder." (the generative-pretraining flag embedding, which
// TransformerModel does not have) are ignored with a note. A "module." prefix on every key
// (DistributedDataParallel) is dropped by checkpoint::load_state_dict.
//
// Where scGPT's loader skips missing, unexpected and shape-mismatched keys silently, scfm reports
// every one: with allow_partial false (the default) any of them is an error naming them all and
// the model is left unchanged; with allow_partial true the matching tensors are copied and the
// report says what was not. Values are copied with conversion to the model's dtype.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/scgpt/transformer_model.h"

namespace scfm::model::scgpt {

struct KeyReport {
  struct Mismatch {
    std::string name;
    std::vector<int64_t> expected;  // the model's shape
    std::vector<int64_t> found;     // the file's shape
  };
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file (after renaming), not in the model
  std::vector<Mismatch> shape_mismatch;
  std::vector<std::pair<std::string, std::string>> renamed;  // file name -> model name
  std::vector<std::string> ignored;     // flag_encoder.* keys
  std::vector<std::string> notes;       // one line each, for people
  int64_t loaded = 0;                   // tensors copied into the model
  int64_t model_tensors = 0;            // parameters and buffers of the model
  int64_t file_tensors = 0;             // tensors in the state dict given (flag_encoder.* included)
  int64_t file_elements = 0;            // their elements

  bool complete() const { return missing.empty() && unexpected.empty() && shape_mismatch.empty(); }
  // Several lines: counts, then every missing / unexpected / mismatched key.
  std::string format() const;
  nlohmann::json to_json() const;
};

struct ScGptLoadOptions {
  bool allow_partial = false;
};

// Copies `state` into `model` by name (see above). `source` names the file in messages.
// Throws scfm::Error listing every problem unless options.allow_partial; the model is then unchanged.
KeyReport load_state(TransformerModelImpl& model, const StateDict& state, const ScGptLoadOptions& options = {},
                     const std::string& source = "state dict");

// The files of a checkpoint folder, or of a .pt file with args.json (and vocab.json) beside it.
struct ScGptFiles {
  std::string folder;
  std::string args_json;
  std::string weights;  // best_model.pt, else model.pt (or the .pt given)
  std::string vocab;    // "" when there is no vocab.json
};
// Throws scfm::Error naming what is missing.
ScGptFiles find_checkpoint_files(const std::string& path);

// Fills the architecture settings args.json leaves out from the weights themselves, so that a
// released checkpoint (whose args.json names only sizes and training flags) builds the model it
// holds. Only keys absent from `args` are touched:
//   explicit_zero_prob   <- decoder.zero_logit.* present
//   do_mvc (and MVC)     <- mvc_decoder.* present;  mvc_decoder_style "concat query"/"sum query" <- mvc_decoder.fc1.*
//   n_cls                <- rows of cls_decoder.out_layer.weight; no cls_decoder.* at all -> cls_decoder = false
//   n_layers_cls         <- cls_decoder._decoder.{3i}.weight count + 1
//   use_batch_labels, num_batch_labels <- batch_encoder.embedding.weight
//   domain_spec_batchnorm, num_batch_labels <- dsbn.bns.{i}.* ("dsbn") or bn.* ("batchnorm")
//   do_dab, num_batch_labels <- grad_reverse_discriminator.out_layer.weight
//   n_input_bins         <- rows of value_encoder.embedding.weight (category style)
// Returns one line per inferred setting (for the key report's notes).
std::vector<std::string> infer_from_weights(ScGptConfig& config, const nlohmann::json& args, const StateDict& state);

struct ScGptCheckpoint {
  ScGptFiles files;
  ScGptConfig config;
  io::Vocab vocab;  // empty when the folder has none
  TransformerModel model{nullptr};
  KeyReport report;
};

// Builds the model from args.json (ntoken and the pad id from vocab.json where present; settings
// args.json leaves out from the weights, see infer_from_weights), loads the weights and returns the
// key report. The model is in eval mode. Throws scfm::Error (FormatError for
// bad files) unless everything matches or options.allow_partial.
ScGptCheckpoint load_checkpoint_folder(const std::string& path, const ScGptLoadOptions& options = {});

}  // namespace scfm::model::scgpt
