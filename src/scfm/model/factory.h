// Models from configuration: the `model_structure` key of an args.json (scBenchmark's keys) or
// "scgpt" (scGPT's keys) picks the model; the rest of the keys configure it.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "scfm/model/pretrain_model.h"

namespace scfm::io {
class Vocab;
}

namespace scfm::model {

// Structures: transformer (= transformer_ours), gnn_cp, cnn_base, cnn_ours, linear_ours,
// linear_base (scBenchmark's scModel) and scgpt (scGPT's TransformerModel). Unknown structures
// are an scfm::Error listing the known ones.
std::unique_ptr<PretrainModel> make_pretrain_model(const nlohmann::json& args, const io::Vocab& vocab);

// A run folder or scGPT checkpoint folder (args.json, best_model.pt or model.pt, vocab.json):
// builds the model and loads its weights, failing on any missing, unexpected or mis-shaped key
// unless allow_partial.
std::unique_ptr<PretrainModel> load_pretrain_model(const std::string& folder, bool allow_partial = false);

// The tokenizer settings the model was trained with (max length, <cls>/pad values, mask value).
struct InputConventions {
  int64_t max_len = 513;    // train_maxseq + <cls>
  float cls_value = 0;      // scBenchmark 0; scGPT's embedding uses pad_value
  float pad_value = 0;      // scBenchmark 0, scGPT -2 (or n_bins for binned input)
  float mask_value = -1;
  bool binned = false;      // scGPT category input / scBenchmark preprocess_mode bin
  int64_t n_bins = 51;
};
InputConventions input_conventions(const nlohmann::json& args);

}  // namespace scfm::model
