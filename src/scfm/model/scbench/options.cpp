#include "scfm/model/scbench/options.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <type_traits>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

namespace {

struct NamedStructure {
  const char* name;
  Structure structure;
};
constexpr NamedStructure kStructures[] = {
    {"transformer", Structure::kTransformer}, {"transformer_ours", Structure::kTransformer},
    {"gnn_cp", Structure::kGnnCp},            {"cnn_base", Structure::kCnnBase},
    {"cnn_ours", Structure::kCnnOurs},        {"linear_ours", Structure::kLinearOurs},
    {"linear_base", Structure::kLinearBase},
};

std::string type_name(const nlohmann::json& v) { return v.type_name(); }

// Reads args[key] into `out` when present; a wrong type is a FormatError naming the key.
template <typename T>
void read(const nlohmann::json& args, const char* key, T& out, const std::string& source) {
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) return;
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) throw FormatError(source, key, "expected true/false, found " + type_name(*it));
    out = it->get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) throw FormatError(source, key, "expected a string, found " + type_name(*it));
    out = it->get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    if (it->is_number_integer()) {
      out = it->get<T>();
    } else if (it->is_number_float() && it->get<double>() == static_cast<double>(static_cast<T>(it->get<double>()))) {
      out = static_cast<T>(it->get<double>());
    } else {
      throw FormatError(source, key, "expected an integer, found " + it->dump());
    }
  } else {
    if (!it->is_number()) throw FormatError(source, key, "expected a number, found " + type_name(*it));
    out = it->get<T>();
  }
}

const std::set<std::string>& mirrored_keys() {
  static const std::set<std::string> keys = {
      "model_structure", "nlayers", "nheads", "embsize", "dict_size", "dropout",
      "cell_emb_style", "pad_token", "max_value", "mask_value", "pad_value", "cls_value",
      "train_maxseq", "batch_first", "norm_first", "dim_feedforward", "activation"};
  return keys;
}

}  // namespace

Structure parse_structure(const std::string& name) {
  for (const auto& s : kStructures)
    if (name == s.name) return s.structure;
  if (name == "mamba")
    throw Error("model_structure \"mamba\" is not supported: scBenchmark's Mamba needs the mamba_ssm "
                "package its release does not include (the import is commented out in model.py)");
  std::string known;
  for (const auto& s : kStructures) known += std::string(known.empty() ? "" : ", ") + s.name;
  throw Error("model_structure \"" + name + "\" is not one of: " + known);
}

const char* structure_name(Structure s) {
  for (const auto& n : kStructures)
    if (n.structure == s) return n.name;
  return "?";
}

void ScModelConfig::validate() const {
  const Structure s = structure();  // throws on an unknown name
  auto positive = [](const char* field, int64_t v) {
    if (v <= 0) throw Error("scBenchmark config: " + std::string(field) + " must be positive, got " + std::to_string(v));
  };
  positive("nlayers", nlayers);
  positive("embsize", embsize);
  positive("dict_size", dict_size);
  positive("train_maxseq", train_maxseq);
  if (s == Structure::kTransformer) {
    positive("nheads", nheads);
    if (embsize % nheads != 0)
      throw Error("scBenchmark config: embsize " + std::to_string(embsize) + " is not a multiple of nheads " +
                  std::to_string(nheads));
    if (activation != "relu" && activation != "gelu")
      throw Error("scBenchmark config: activation must be \"relu\" or \"gelu\", got \"" + activation + "\"");
    if (dim_feedforward < 0) throw Error("scBenchmark config: dim_feedforward must be >= 0 (0 = embsize)");
  }
  if (cell_emb_style != "cls" && cell_emb_style != "avg-pool")
    throw Error("scBenchmark config: cell_emb_style must be \"cls\" or \"avg-pool\", got \"" + cell_emb_style + "\"");
  if (dropout < 0 || dropout > 1) throw Error("scBenchmark config: dropout must be in [0, 1], got " + std::to_string(dropout));
  if (s == Structure::kCnnOurs && (pad_token_id < 0 || cls_token_id < 0))
    throw Error("scBenchmark config: cnn_ours orders tokens by vocabulary id and needs pad_token_id and "
                "cls_token_id (the ids of \"" + pad_token + "\" and \"<cls>\" in vocab.json)");
}

ScModelConfig ScModelConfig::from_json(const nlohmann::json& args, const std::string& source) {
  if (!args.is_object()) throw FormatError(source, "(top level)", "expected a JSON object, found " + type_name(args));
  ScModelConfig c;
  read(args, "model_structure", c.model_structure, source);
  read(args, "nlayers", c.nlayers, source);
  read(args, "nheads", c.nheads, source);
  read(args, "embsize", c.embsize, source);
  read(args, "dict_size", c.dict_size, source);
  read(args, "dropout", c.dropout, source);
  read(args, "cell_emb_style", c.cell_emb_style, source);
  read(args, "pad_token", c.pad_token, source);
  read(args, "max_value", c.max_value, source);
  read(args, "mask_value", c.mask_value, source);
  read(args, "pad_value", c.pad_value, source);
  read(args, "cls_value", c.cls_value, source);
  read(args, "train_maxseq", c.train_maxseq, source);
  read(args, "batch_first", c.batch_first, source);
  read(args, "norm_first", c.norm_first, source);
  read(args, "dim_feedforward", c.dim_feedforward, source);
  read(args, "activation", c.activation, source);
  for (const auto& item : args.items())
    if (!mirrored_keys().count(item.key())) c.ignored_keys.push_back(item.key());
  std::sort(c.ignored_keys.begin(), c.ignored_keys.end());
  try {
    c.structure();
  } catch (const Error& e) {
    throw FormatError(source, "model_structure", e.what());
  }
  return c;
}

ScModelConfig ScModelConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open scBenchmark args.json");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path, "(json)", std::string("not valid JSON: ") + e.what());
  }
  return from_json(j, path);
}

nlohmann::json ScModelConfig::to_json() const {
  return nlohmann::json{{"model_structure", model_structure},
                        {"nlayers", nlayers},
                        {"nheads", nheads},
                        {"embsize", embsize},
                        {"dict_size", dict_size},
                        {"dropout", dropout},
                        {"cell_emb_style", cell_emb_style},
                        {"pad_token", pad_token},
                        {"max_value", max_value},
                        {"mask_value", mask_value},
                        {"pad_value", pad_value},
                        {"cls_value", cls_value},
                        {"train_maxseq", train_maxseq},
                        {"batch_first", batch_first},
                        {"norm_first", norm_first},
                        {"dim_feedforward", feedforward_width()},
                        {"activation", activation}};
}

}  // namespace scfm::model::scbench
