#include "scfm/model/scgpt/load.h"

#include <torch/utils.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "scfm/util/error.h"

namespace scfm::model::scgpt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t = "(";
  for (size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + ")";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// scGPT's load_pretrained renames (flash-attn names -> PyTorch's MultiheadAttention names).
std::string rename_key(const std::string& key) {
  static const std::pair<const char*, const char*> rules[] = {
      {"self_attn._impl.Wqkv.", "self_attn.in_proj_"},
      {"self_attn.Wqkv.", "self_attn.in_proj_"},
      {"self_attn._impl.out_proj.", "self_attn.out_proj."},
  };
  for (auto& [from, to] : rules) {
    auto pos = key.find(from);
    if (pos != std::string::npos) return key.substr(0, pos) + to + key.substr(pos + std::strlen(from));
  }
  return key;
}

}  // namespace

std::string KeyReport::format() const {
  std::string s = "loaded " + std::to_string(loaded) + " of " + std::to_string(model_tensors) + " model tensors";
  if (!renamed.empty()) s += "; renamed " + std::to_string(renamed.size()) + " flash-attn keys";
  if (!ignored.empty()) s += "; ignored " + std::to_string(ignored.size()) + " keys";
  s += "\n";
  if (!missing.empty()) s += "missing (" + std::to_string(missing.size()) + "): " + join(missing) + "\n";
  if (!unexpected.empty()) s += "unexpected (" + std::to_string(unexpected.size()) + "): " + join(unexpected) + "\n";
  for (auto& m : shape_mismatch)
    s += "shape mismatch: " + m.name + ": model " + shape_text(m.expected) + ", file " + shape_text(m.found) + "\n";
  for (auto& n : notes) s += "note: " + n + "\n";
  return s;
}

json KeyReport::to_json() const {
  json j;
  j["complete"] = complete();
  j["loaded"] = loaded;
  j["model_tensors"] = model_tensors;
  j["file_tensors"] = file_tensors;
  j["file_elements"] = file_elements;
  j["missing"] = missing;
  j["unexpected"] = unexpected;
  j["shape_mismatch"] = json::array();
  for (auto& m : shape_mismatch)
    j["shape_mismatch"].push_back({{"name", m.name}, {"model", m.expected}, {"file", m.found}});
  j["renamed"] = json::array();
  for (auto& [a, b] : renamed) j["renamed"].push_back({{"from", a}, {"to", b}});
  j["ignored"] = ignored;
  j["notes"] = notes;
  return j;
}

KeyReport load_state(TransformerModelImpl& model, const StateDict& state, const ScGptLoadOptions& options,
                     const std::string& source) {
  KeyReport report;
  StateDict targets = module_state(model);
  report.model_tensors = static_cast<int64_t>(targets.size());
  report.file_tensors = static_cast<int64_t>(state.size());
  for (const auto& kv : state) report.file_elements += kv.second.numel();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < targets.size(); ++i) index[targets[i].first] = i;

  std::vector<std::pair<size_t, const at::Tensor*>> copies;
  std::set<std::string> provided;
  for (const auto& [file_name, tensor] : state) {
    if (starts_with(file_name, "flag_encoder.")) {
      report.ignored.push_back(file_name);
      continue;
    }
    std::string name = rename_key(file_name);
    if (name != file_name) report.renamed.emplace_back(file_name, name);
    if (!provided.insert(name).second) {
      report.unexpected.push_back(file_name + " (a second tensor for " + name + ")");
      continue;
    }
    auto it = index.find(name);
    if (it == index.end()) {
      report.unexpected.push_back(file_name);
      continue;
    }
    const at::Tensor& dst = targets[it->second].second;
    if (dst.sizes() != tensor.sizes()) {
      report.shape_mismatch.push_back({name, dst.sizes().vec(), tensor.sizes().vec()});
      continue;
    }
    copies.emplace_back(it->second, &tensor);
  }
  for (auto& [name, t] : targets)
    if (!provided.count(name)) report.missing.push_back(name);
  if (!report.ignored.empty())
    report.notes.push_back("ignored " + std::to_string(report.ignored.size()) +
                           " flag_encoder.* key(s): the generative-pretraining flag embedding, which scGPT's "
                           "TransformerModel does not use");
  if (!report.renamed.empty())
    report.notes.push_back("renamed " + std::to_string(report.renamed.size()) +
                           " flash-attn key(s) (self_attn.Wqkv / _impl) to PyTorch's self_attn.in_proj_* names");

  if (!report.complete() && !options.allow_partial) {
    std::string msg = source + ": the checkpoint does not match the scGPT model built from its config:";
    if (!report.missing.empty()) msg += " missing key(s) [" + join(report.missing) + "];";
    if (!report.unexpected.empty()) msg += " unexpected key(s) [" + join(report.unexpected) + "];";
    for (auto& m : report.shape_mismatch)
      msg += " shape mismatch: '" + m.name + "' expected " + shape_text(m.expected) + ", got " +
             shape_text(m.found) + ";";
    msg += " (allow_partial loads what matches)";
    throw Error(msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& [i, t] : copies) targets[i].second.copy_(*t);
  report.loaded = static_cast<int64_t>(copies.size());
  return report;
}

ScGptFiles find_checkpoint_files(const std::string& path) {
  ScGptFiles f;
  if (fs::is_directory(path)) {
    f.folder = path;
    for (const char* name : {"best_model.pt", "model.pt"}) {
      if (fs::is_regular_file(fs::path(path) / name)) {
        f.weights = (fs::path(path) / name).string();
        break;
      }
    }
    if (f.weights.empty())
      throw FormatError(path, "weights", "a scGPT checkpoint folder needs best_model.pt or model.pt; found neither");
  } else if (fs::is_regular_file(path)) {
    f.weights = path;
    f.folder = fs::path(path).parent_path().string();
    if (f.folder.empty()) f.folder = ".";
  } else {
    throw FormatError(path, "path", "no such file or folder");
  }
  f.args_json = (fs::path(f.folder) / "args.json").string();
  if (!fs::is_regular_file(f.args_json))
    throw FormatError(f.folder, "args.json", "missing: a scGPT checkpoint needs args.json beside its weights");
  std::string vocab = (fs::path(f.folder) / "vocab.json").string();
  if (fs::is_regular_file(vocab)) f.vocab = vocab;
  return f;
}

std::vector<std::string> infer_from_weights(ScGptConfig& c, const json& args, const StateDict& state) {
  std::vector<std::string> notes;
  auto absent = [&](const char* key) { return !args.contains(key) || args.at(key).is_null(); };
  auto any_prefix = [&](const std::string& prefix) {
    for (auto& kv : state)
      if (starts_with(kv.first, prefix)) return true;
    return false;
  };
  auto rows = [&](const std::string& name) -> int64_t {
    const at::Tensor* t = find(state, name);
    return t && t->dim() >= 1 ? t->size(0) : -1;
  };
  auto note = [&](const std::string& key, const std::string& value, const std::string& why) {
    notes.push_back("args.json has no " + key + "; from the weights: " + value + " (" + why + ")");
  };

  if (absent("explicit_zero_prob")) {
    bool has = any_prefix("decoder.zero_logit.");
    if (has != c.explicit_zero_prob) {
      c.explicit_zero_prob = has;
      note("explicit_zero_prob", has ? "true" : "false", has ? "decoder.zero_logit.* present" : "no decoder.zero_logit.*");
    }
  }
  if (absent("do_mvc") && absent("MVC")) {
    bool has = any_prefix("mvc_decoder.");
    if (has != c.do_mvc) {
      c.do_mvc = has;
      note("do_mvc", has ? "true" : "false", has ? "mvc_decoder.* present" : "no mvc_decoder.*");
    }
  }
  if (absent("mvc_decoder_style") && c.do_mvc && find(state, "mvc_decoder.fc1.weight")) {
    const at::Tensor* fc1 = find(state, "mvc_decoder.fc1.weight");
    c.mvc_decoder_style = fc1->dim() == 2 && fc1->size(1) == c.embsize ? "sum query" : "concat query";
    note("mvc_decoder_style", c.mvc_decoder_style, "mvc_decoder.fc1.weight is " + std::to_string(fc1->size(1)) + " wide");
  }
  if (absent("n_cls")) {
    int64_t n = rows("cls_decoder.out_layer.weight");
    if (n > 0 && n != c.n_cls) {
      c.n_cls = n;
      note("n_cls", std::to_string(n), "rows of cls_decoder.out_layer.weight");
    } else if (n < 0 && !any_prefix("cls_decoder.") && c.cls_decoder) {
      c.cls_decoder = false;
      notes.push_back("the checkpoint has no cls_decoder (scGPT's pretraining has none) and args.json gives no "
                      "n_cls: built without one (cls_output unavailable; give n_cls to add a fresh head)");
    }
  }
  if (absent("n_layers_cls") && c.cls_decoder && any_prefix("cls_decoder.")) {
    int64_t n = 1;
    while (find(state, "cls_decoder._decoder." + std::to_string(3 * (n - 1)) + ".weight")) ++n;
    if (n != c.n_layers_cls) {
      c.n_layers_cls = n;
      note("n_layers_cls", std::to_string(n), "cls_decoder._decoder layers");
    }
  }
  int64_t batches = -1;
  std::string batch_source;
  if (absent("use_batch_labels") && rows("batch_encoder.embedding.weight") > 0) {
    c.use_batch_labels = true;
    batches = rows("batch_encoder.embedding.weight");
    batch_source = "batch_encoder.embedding.weight";
    note("use_batch_labels", "true", "batch_encoder.* present");
  }
  if (absent("domain_spec_batchnorm")) {
    if (any_prefix("dsbn.bns.")) {
      c.domain_spec_batchnorm = "dsbn";
      int64_t n = 0;
      while (any_prefix("dsbn.bns." + std::to_string(n) + ".")) ++n;
      if (batches < 0) batches = n, batch_source = "dsbn.bns.{i}";
      note("domain_spec_batchnorm", "\"dsbn\"", std::to_string(n) + " dsbn.bns.{i}");
    } else if (any_prefix("bn.")) {
      c.domain_spec_batchnorm = "batchnorm";
      note("domain_spec_batchnorm", "\"batchnorm\"", "bn.* present");
    }
  }
  if (absent("pert_flags") && rows("pert_encoder.weight") > 0) {
    c.pert_flags = true;
    note("pert_flags", "true", "pert_encoder.weight present (scGPT's TransformerGenerator)");
  }
  if (absent("do_dab") && rows("grad_reverse_discriminator.out_layer.weight") > 0) {
    c.do_dab = true;
    if (batches < 0)
      batches = rows("grad_reverse_discriminator.out_layer.weight"), batch_source = "grad_reverse_discriminator.out_layer";
    note("do_dab", "true", "grad_reverse_discriminator.* present");
  }
  if (absent("num_batch_labels") && batches > 0 && c.num_batch_labels <= 0) {
    c.num_batch_labels = batches;
    note("num_batch_labels", std::to_string(batches), batch_source);
  }
  if (absent("n_input_bins") && c.input_emb_style == "category") {
    int64_t n = rows("value_encoder.embedding.weight");
    if (n > 0 && n != c.input_bins()) {
      c.n_input_bins = n;
      note("n_input_bins", std::to_string(n), "rows of value_encoder.embedding.weight");
    }
  }
  c.validate("args.json with settings from the weights");
  return notes;
}

ScGptCheckpoint load_checkpoint_folder(const std::string& path, const ScGptLoadOptions& options) {
  ScGptCheckpoint ck;
  ck.files = find_checkpoint_files(path);
  json args;
  {
    std::ifstream in(ck.files.args_json);
    if (!in) throw FormatError(ck.files.args_json, "file", "cannot open");
    try {
      args = json::parse(in);
    } catch (const json::exception& e) {  // parse errors and out-of-range numbers
      throw FormatError(ck.files.args_json, "json", e.what());
    }
  }
  ck.config = ScGptConfig::from_json(args, ck.files.args_json);
  StateDict state = load_state_dict(ck.files.weights);
  std::vector<std::string> notes = infer_from_weights(ck.config, args, state);
  int64_t pad_id = -1;
  if (!ck.files.vocab.empty()) {
    ck.vocab = io::Vocab::load(ck.files.vocab);
    if (!ck.vocab.appended_specials().empty())
      notes.push_back("vocab.json lacked " + join(ck.vocab.appended_specials()) + "; appended (as scGPT does)");
    pad_id = ck.vocab.id(ck.config.pad_token);
    if (pad_id < 0)
      throw FormatError(ck.files.vocab, ck.config.pad_token, "the pad_token of args.json is not in the vocabulary");
    if (ck.config.ntoken > 0 && ck.config.ntoken != ck.vocab.size())
      throw FormatError(ck.files.args_json, "ntoken",
                        std::to_string(ck.config.ntoken) + " differs from the " + std::to_string(ck.vocab.size()) +
                            " tokens of " + ck.files.vocab);
    ck.config.ntoken = ck.vocab.size();
  } else {
    if (ck.config.ntoken <= 0)
      throw FormatError(ck.files.args_json, "ntoken",
                        "absent, and there is no vocab.json beside it to take the vocabulary size from");
    notes.push_back("no vocab.json: the gene embedding has no padding row");
  }
  if (!ck.config.unknown_keys.empty())
    notes.push_back("args.json keys scfm does not know (kept, unused): " + join(ck.config.unknown_keys));
  if (ck.config.fast_transformer)
    notes.push_back("trained with flash-attn (fast_transformer); scfm runs the standard attention on the same weights");

  ck.model = TransformerModel(ck.config, pad_id);
  ck.report = load_state(*ck.model, state, options, ck.files.weights);
  ck.report.notes.insert(ck.report.notes.end(), notes.begin(), notes.end());
  ck.model->eval();
  return ck;
}

}  // namespace scfm::model::scgpt
