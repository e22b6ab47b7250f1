#include "scfm/model/scgpt/config.h"

#include <cmath>
#include <fstream>
#include <set>

#include "scfm/util/error.h"

namespace scfm::model::scgpt {
namespace {

using nlohmann::json;

// Keys of the released args.json that only concern training or data preparation.
const std::set<std::string>& training_keys() {
  static const std::set<std::string> keys = {
      "data_source", "save_dir", "load_model", "n_hvg", "valid_size_or_ratio", "dist_backend",
      "grad_accu_steps", "training_tasks", "dist_url", "mask_ratio", "trunc_by_sample",
      "vocab_path", "rank", "batch_size", "eval_batch_size", "epochs", "lr",
      "scheduler_interval", "scheduler_factor", "warmup_ratio_or_step", "no_cls", "no_cce",
      "fp16", "log_interval", "save_interval", "USE_CLS", "USE_CCE", "USE_GENERATIVE_TRAINING",
      "world_size", "distributed", "local_rank", "gpu", "cls_value", "seed", "amp",
      "include_zero_gene", "append_cls", "per_seq_batch_sample", "DSBN", "DAB", "ECS",
      "CCE", "CLS", "GEPC", "ecs_thres", "dab_weight", "freeze", "schedule_ratio",
      // scfm run folders
      "model_structure", "preprocess_mode", "train_maxseq", "use_mvc"};
  return keys;
}

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  void get(const char* key, int64_t& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (v.is_number_integer() || v.is_number_unsigned()) {
      out = v.get<int64_t>();
    } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
      out = static_cast<int64_t>(v.get<double>());
    } else {
      throw FormatError(source_, key, "expected an integer, got " + v.dump());
    }
  }
  void get(const char* key, double& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_number()) throw FormatError(source_, key, "expected a number, got " + v.dump());
    out = v.get<double>();
  }
  void get(const char* key, bool& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (v.is_boolean()) {
      out = v.get<bool>();
    } else if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
      out = v.get<int64_t>() == 1;
    } else {
      throw FormatError(source_, key, "expected true or false, got " + v.dump());
    }
  }
  void get(const char* key, std::string& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_string()) throw FormatError(source_, key, "expected a string, got " + v.dump());
    out = v.get<std::string>();
  }

 private:
  const json& j_;
  const std::string& source_;
};

void check_one_of(const std::string& source, const char* key, const std::string& value,
                  const std::vector<std::string>& allowed) {
  for (auto& a : allowed)
    if (value == a) return;
  std::string list;
  for (auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
  throw FormatError(source, key, "expected one of " + list + ", got \"" + value + "\"");
}

// Keys from_json consumes (model keys).
const std::vector<std::string>& model_keys() {
  static const std::vector<std::string> keys = {
      "ntoken", "embsize", "nheads", "d_hid", "nlayers", "n_layers_cls", "n_cls", "dropout",
      "pad_token", "pad_value", "mask_value", "n_bins", "n_input_bins", "value_max_clamp",
      "input_style", "max_seq_len", "input_emb_style", "cell_emb_style", "mvc_decoder_style",
      "do_mvc", "MVC", "explicit_zero_prob", "use_batch_labels", "num_batch_labels",
      "domain_spec_batchnorm", "do_dab", "ecs_threshold", "fast_transformer", "pre_norm",
      "layer_norm_eps", "activation", "batch_first", "norm_first", "cls_decoder", "pert_flags"};
  return keys;
}

}  // namespace

ScGptConfig ScGptConfig::from_json(const json& args, const std::string& source) {
  if (!args.is_object()) throw FormatError(source, "(top level)", "expected a JSON object of scGPT arguments");
  ScGptConfig c;
  Reader r(args, source);
  r.get("ntoken", c.ntoken);
  r.get("embsize", c.embsize);
  r.get("nheads", c.nheads);
  r.get("d_hid", c.d_hid);
  r.get("nlayers", c.nlayers);
  r.get("n_layers_cls", c.n_layers_cls);
  r.get("n_cls", c.n_cls);
  r.get("dropout", c.dropout);
  r.get("pad_token", c.pad_token);
  r.get("pad_value", c.pad_value);
  r.get("mask_value", c.mask_value);
  r.get("n_bins", c.n_bins);
  r.get("n_input_bins", c.n_input_bins);
  r.get("value_max_clamp", c.value_max_clamp);
  r.get("input_style", c.input_style);
  r.get("max_seq_len", c.max_seq_len);
  r.get("input_emb_style", c.input_emb_style);
  r.get("cell_emb_style", c.cell_emb_style);
  r.get("mvc_decoder_style", c.mvc_decoder_style);
  r.get("MVC", c.do_mvc);
  r.get("do_mvc", c.do_mvc);  // the explicit constructor key wins over the training flag
  r.get("explicit_zero_prob", c.explicit_zero_prob);
  r.get("use_batch_labels", c.use_batch_labels);
  r.get("num_batch_labels", c.num_batch_labels);
  if (r.has("domain_spec_batchnorm")) {
    const json& v = args.at("domain_spec_batchnorm");
    if (v.is_boolean()) {
      c.domain_spec_batchnorm = v.get<bool>() ? "dsbn" : "";
    } else if (v.is_string()) {
      c.domain_spec_batchnorm = v.get<std::string>();
      check_one_of(source, "domain_spec_batchnorm", c.domain_spec_batchnorm,
                   {"dsbn", "batchnorm", "do_affine"});
    } else {
      throw FormatError(source, "domain_spec_batchnorm",
                        "expected true, false, \"dsbn\", \"batchnorm\" or \"do_affine\", got " + v.dump());
    }
  }
  r.get("do_dab", c.do_dab);
  r.get("cls_decoder", c.cls_decoder);
  r.get("pert_flags", c.pert_flags);
  r.get("ecs_threshold", c.ecs_threshold);
  r.get("fast_transformer", c.fast_transformer);
  r.get("pre_norm", c.pre_norm);
  r.get("layer_norm_eps", c.layer_norm_eps);
  r.get("activation", c.activation);
  bool batch_first = true, norm_first = false;
  r.get("batch_first", batch_first);
  r.get("norm_first", norm_first);
  if (!batch_first)
    throw FormatError(source, "batch_first", "scGPT's TransformerModel is batch-first; got false");
  if (norm_first)
    throw FormatError(source, "norm_first",
                      "PyTorch's norm_first layers are not used by scGPT (its pre-norm is pre_norm "
                      "with fast_transformer); got true");

  std::set<std::string> model(model_keys().begin(), model_keys().end());
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (model.count(it.key())) continue;
    if (training_keys().count(it.key())) {
      c.training[it.key()] = it.value();
    } else {
      c.unknown_keys.push_back(it.key());
      c.training[it.key()] = it.value();
    }
  }
  c.validate(source);
  return c;
}

ScGptConfig ScGptConfig::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path, "file", "cannot open");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {  // parse errors and out-of-range numbers
    throw FormatError(path, "json", e.what());
  }
  return from_json(j, path);
}

void ScGptConfig::validate(const std::string& source) const {
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) throw FormatError(source, key, "expected a positive integer, got " + std::to_string(v));
  };
  positive("embsize", embsize);
  positive("nheads", nheads);
  positive("d_hid", d_hid);
  positive("nlayers", nlayers);
  positive("n_layers_cls", n_layers_cls);
  positive("n_cls", n_cls);
  if (ntoken != -1) positive("ntoken", ntoken);
  if (embsize % nheads != 0)
    throw FormatError(source, "nheads", "embsize " + std::to_string(embsize) +
                                            " is not divisible by nheads " + std::to_string(nheads));
  if (!(dropout >= 0 && dropout < 1)) throw FormatError(source, "dropout", "expected a value in [0, 1)");
  check_one_of(source, "input_emb_style", input_emb_style, {"continuous", "category", "scaling"});
  check_one_of(source, "cell_emb_style", cell_emb_style, {"cls", "avg-pool", "w-pool"});
  check_one_of(source, "mvc_decoder_style", mvc_decoder_style,
               {"inner product", "inner product, detach", "concat query", "sum query"});
  check_one_of(source, "activation", activation, {"relu", "gelu"});
  if (input_emb_style == "category") {
    if (input_bins() <= 0) throw FormatError(source, "n_input_bins", "category style needs n_input_bins > 0");
    if (pad_value < 0 || pad_value >= static_cast<double>(input_bins()) || std::floor(pad_value) != pad_value)
      throw FormatError(source, "pad_value",
                        "category style uses pad_value as the value embedding's padding index; expected an "
                        "integer in [0, " + std::to_string(input_bins()) + "), got " + std::to_string(pad_value));
  }
  if ((use_batch_labels || !domain_spec_batchnorm.empty() || do_dab) && num_batch_labels <= 0)
    throw FormatError(source, "num_batch_labels",
                      "use_batch_labels, domain_spec_batchnorm and do_dab need num_batch_labels > 0");
  if (do_mvc && explicit_zero_prob &&
      (mvc_decoder_style == "concat query" || mvc_decoder_style == "sum query"))
    throw FormatError(source, "mvc_decoder_style",
                      "scGPT's \"" + mvc_decoder_style + "\" MVC decoder has no explicit zero probability "
                      "(it raises NotImplementedError); use \"inner product\" or explicit_zero_prob false");
  if (do_mvc && use_batch_labels && mvc_decoder_style == "concat query")
    throw FormatError(source, "mvc_decoder_style",
                      "scGPT's \"concat query\" MVC decoder cannot take batch labels (its fc1 input size "
                      "does not match); use \"inner product\"");
  if (!(layer_norm_eps > 0)) throw FormatError(source, "layer_norm_eps", "expected a positive number");
}

json ScGptConfig::to_json() const {
  json j = json::object();
  j["pad_token"] = pad_token;
  j["input_style"] = input_style;
  j["input_emb_style"] = input_emb_style;
  j["n_bins"] = n_bins;
  if (max_seq_len > 0) j["max_seq_len"] = max_seq_len;
  j["fast_transformer"] = fast_transformer;
  j["nlayers"] = nlayers;
  j["nheads"] = nheads;
  j["embsize"] = embsize;
  j["d_hid"] = d_hid;
  j["dropout"] = dropout;
  j["n_layers_cls"] = n_layers_cls;
  j["mask_value"] = mask_value;
  j["pad_value"] = pad_value;
  j["MVC"] = do_mvc;
  if (ntoken > 0) j["ntoken"] = ntoken;
  j["n_cls"] = n_cls;
  j["n_input_bins"] = n_input_bins > 0 ? json(n_input_bins) : json(nullptr);
  j["cell_emb_style"] = cell_emb_style;
  j["mvc_decoder_style"] = mvc_decoder_style;
  j["do_mvc"] = do_mvc;
  j["explicit_zero_prob"] = explicit_zero_prob;
  j["pre_norm"] = pre_norm;
  j["use_batch_labels"] = use_batch_labels;
  if (num_batch_labels > 0) j["num_batch_labels"] = num_batch_labels;
  j["domain_spec_batchnorm"] = domain_spec_batchnorm.empty() ? json(false)
                               : domain_spec_batchnorm == "dsbn" ? json(true)
                                                                 : json(domain_spec_batchnorm);
  j["do_dab"] = do_dab;
  j["cls_decoder"] = cls_decoder;
  j["pert_flags"] = pert_flags;
  j["ecs_threshold"] = ecs_threshold;
  j["layer_norm_eps"] = layer_norm_eps;
  j["activation"] = activation;
  j["value_max_clamp"] = value_max_clamp;
  for (auto it = training.begin(); it != training.end(); ++it)
    if (!j.contains(it.key())) j[it.key()] = it.value();
  return j;
}

}  // namespace scfm::model::scgpt
