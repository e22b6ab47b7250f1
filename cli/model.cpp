// scfm model info PATH [--json]: what a scGPT checkpoint holds (config, structure, parameter count)
// and how its keys match the model scfm builds from its args.json.
// scfm model verify PATH [--io io.pt] [--tolerance 1e-4] [--skip-pads] [--json]: outputs against a
// reference io.pt (exit 1 on a difference).
#include <torch/utils.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/scgpt/load.h"
#include "scfm/util/error.h"

namespace scfm::cli {
namespace {

using nlohmann::json;
namespace sg = scfm::model::scgpt;

// scfm run folders of other structures say so in args.json; scGPT's own have no model_structure.
void require_scgpt(const std::string& path) {
  sg::ScGptFiles files = sg::find_checkpoint_files(path);
  std::ifstream in(files.args_json);
  json args = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (args.is_object() && args.contains("model_structure") && args["model_structure"] != "scgpt")
    throw FormatError(files.args_json, "model_structure",
                      args["model_structure"].dump() + ": scfm model info/verify describe scGPT checkpoints only");
}

json describe(const std::string& path) {
  require_scgpt(path);
  sg::ScGptLoadOptions options;
  options.allow_partial = true;  // info reports a mismatch instead of failing on it
  sg::ScGptCheckpoint ck = sg::load_checkpoint_folder(path, options);

  json j;
  j["model"] = "scGPT TransformerModel";
  j["files"] = {{"folder", ck.files.folder}, {"args_json", ck.files.args_json}, {"weights", ck.files.weights},
                {"vocab", ck.files.vocab}};
  j["config"] = ck.config.to_json();
  j["vocab_size"] = ck.vocab.size();
  j["norm_scheme"] = ck.config.norm_scheme();
  j["parameters"] = sg::parameter_count(*ck.model);
  j["state_dict_tensors"] = ck.report.file_tensors;
  j["state_dict_elements"] = ck.report.file_elements;
  j["structure"] = json::array();
  for (const auto& child : ck.model->named_children()) {
    json m;
    m["module"] = child.key();
    m["parameters"] = sg::parameter_count(*child.value());
    json tensors = json::array();
    for (auto& [name, t] : scfm::model::module_state(*child.value()))
      tensors.push_back({{"name", child.key() + "." + name}, {"shape", t.sizes().vec()}});
    m["tensors"] = tensors;
    j["structure"].push_back(m);
  }
  j["keys"] = ck.report.to_json();
  j["keys"]["text"] = ck.report.format();
  return j;
}

void print_text(const json& j) {
  const json& c = j["config"];
  std::ostringstream o;
  o << j["model"].get<std::string>() << "  " << j["files"]["weights"].get<std::string>() << "\n";
  o << "  config     embsize " << c["embsize"] << ", nheads " << c["nheads"] << ", d_hid " << c["d_hid"] << ", nlayers "
    << c["nlayers"] << " (" << j["norm_scheme"].get<std::string>() << "-norm), vocab " << j["vocab_size"] << "\n";
  o << "             input_emb_style " << c["input_emb_style"].get<std::string>() << ", cell_emb_style "
    << c["cell_emb_style"].get<std::string>() << ", mvc " << (c["do_mvc"].get<bool>() ? c["mvc_decoder_style"].get<std::string>() : "off")
    << ", explicit_zero_prob " << c["explicit_zero_prob"] << ", n_cls " << c["n_cls"] << "\n";
  o << "  parameters " << j["parameters"] << " (file: " << j["state_dict_elements"] << " elements in "
    << j["state_dict_tensors"] << " tensors)\n";
  o << "  structure\n";
  for (const auto& m : j["structure"]) {
    o << "    " << std::left << std::setw(28) << m["module"].get<std::string>() << std::right << std::setw(12)
      << m["parameters"].get<int64_t>() << "  " << m["tensors"].size() << " tensors\n";
  }
  o << "  keys       " << (j["keys"]["complete"].get<bool>() ? "complete: " : "INCOMPLETE: ");
  std::string text = j["keys"]["text"];
  std::string indented;
  for (size_t i = 0; i < text.size(); ++i) {
    indented += text[i];
    if (text[i] == '\n' && i + 1 < text.size()) indented += "             ";
  }
  o << indented;
  std::cout << o.str();
}

// Runs an io.pt (src, values, src_key_padding_mask [, batch_labels] and reference outputs) through
// the checkpoint's model in eval mode and compares every reference output it holds.
json verify(const std::string& path, const std::string& io_path, double tolerance, bool skip_pads) {
  require_scgpt(path);
  sg::ScGptCheckpoint ck = sg::load_checkpoint_folder(path);
  model::StateDict io = model::load_tensor_dict(io_path);
  auto need = [&](const char* name) {
    const at::Tensor* t = model::find(io, name);
    if (!t) throw FormatError(io_path, name, "missing: an io.pt needs src, values and src_key_padding_mask");
    return *t;
  };
  at::Tensor src = need("src"), values = need("values"), mask = need("src_key_padding_mask");
  const at::Tensor* labels = model::find(io, "batch_labels");
  torch::NoGradGuard no_grad;
  sg::ForwardOptions o;
  o.cls = model::find(io, "cls_output") != nullptr;
  o.mvc = ck.config.do_mvc && model::find(io, "mvc_output") != nullptr;
  o.ecs = model::find(io, "loss_ecs") != nullptr;
  sg::ForwardOutput out = ck.model->forward(src, values, mask, labels ? *labels : at::Tensor(), o);
  at::Tensor encoded = ck.model->encode(src, values, mask, labels ? *labels : at::Tensor());
  std::vector<std::pair<std::string, at::Tensor>> got = {
      {"mlm_output", out.mlm_output}, {"mlm_zero_probs", out.mlm_zero_probs}, {"mvc_output", out.mvc_output},
      {"mvc_zero_probs", out.mvc_zero_probs}, {"cell_emb", out.cell_emb}, {"cls_output", out.cls_output},
      {"encode_output", encoded}, {"loss_ecs", out.loss_ecs}, {"dab_output", out.dab_output}};
  json j;
  j["checkpoint"] = ck.files.weights;
  j["io"] = io_path;
  j["tolerance"] = tolerance;
  j["outputs"] = json::array();
  bool pass = true;
  for (auto& [name, t] : got) {
    const at::Tensor* want = model::find(io, name);
    if (!want) continue;
    json r = {{"name", name}};
    if (!t.defined() || t.sizes() != want->sizes()) {
      r["error"] = t.defined() ? "shape differs" : "not computed by this model";
      pass = false;
    } else {
      at::Tensor diff = (t.to(at::kDouble) - want->to(at::kDouble)).abs();
      // Per-position outputs: optionally only where src_key_padding_mask is false.
      if (skip_pads && diff.dim() >= 2 && diff.size(0) == mask.size(0) && diff.size(1) == mask.size(1)) {
        at::Tensor keep = mask.logical_not();
        while (keep.dim() < diff.dim()) keep = keep.unsqueeze(-1);
        diff = diff * keep.to(at::kDouble);
      }
      double m = diff.numel() ? diff.max().item<double>() : 0.0;
      r["max_abs_diff"] = m;
      r["pass"] = m <= tolerance;
      pass = pass && m <= tolerance;
    }
    j["outputs"].push_back(r);
  }
  if (j["outputs"].empty())
    throw FormatError(io_path, "outputs", "holds no reference output (mlm_output, cell_emb, cls_output, ...)");
  j["pass"] = pass;
  return j;
}

}  // namespace

void add_model(CLI::App& app, GlobalOptions&) {
  auto* model = app.add_subcommand("model", "scGPT checkpoints: inspect them, verify them against reference outputs");
  model->require_subcommand(1);
  auto* info = model->add_subcommand(
      "info", "Config, structure, parameter count and key report of a scGPT checkpoint folder (args.json, "
              "best_model.pt or model.pt, vocab.json) or of a .pt file with args.json beside it");
  auto path = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  info->add_option("path", *path, "Checkpoint folder, or a .pt file with args.json beside it")->required();
  info->add_flag("--json", *json_out, "Print one JSON object");
  info->callback([=] {
    json j = describe(*path);
    if (*json_out) {
      std::cout << j.dump(2) << "\n";
    } else {
      print_text(j);
    }
  });

  auto* verify_cmd = model->add_subcommand(
      "verify", "Run an io.pt (inputs and reference outputs of the original model) through a scGPT checkpoint and "
                "compare every output; exits 1 when one differs by more than the tolerance");
  auto vpath = std::make_shared<std::string>();
  auto io_path = std::make_shared<std::string>();
  auto tolerance = std::make_shared<double>(1e-4);
  auto skip_pads = std::make_shared<bool>(false);
  auto vjson = std::make_shared<bool>(false);
  verify_cmd->add_option("path", *vpath, "Checkpoint folder, or a .pt file with args.json beside it")->required();
  verify_cmd->add_option("--io", *io_path, "The io.pt to run (default: io.pt in the checkpoint folder)");
  verify_cmd->add_option("--tolerance", *tolerance, "Largest absolute difference accepted")->capture_default_str();
  verify_cmd->add_flag("--skip-pads", *skip_pads,
                       "Compare per-position outputs only at non-pad positions (for references made under "
                       "PyTorch's no-grad fast path, which zeroes padded rows)");
  verify_cmd->add_flag("--json", *vjson, "Print one JSON object");
  verify_cmd->callback([=] {
    std::string io = *io_path;
    if (io.empty()) io = sg::find_checkpoint_files(*vpath).folder + "/io.pt";
    json j = verify(*vpath, io, *tolerance, *skip_pads);
    if (*vjson) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "scGPT verify  " << j["checkpoint"].get<std::string>() << "  against  " << io << "\n";
      for (const auto& r : j["outputs"]) {
        std::cout << "  " << std::left << std::setw(16) << r["name"].get<std::string>();
        if (r.contains("error")) {
          std::cout << "FAIL  " << r["error"].get<std::string>() << "\n";
        } else {
          std::cout << (r["pass"].get<bool>() ? "ok    " : "FAIL  ") << "max |diff| " << r["max_abs_diff"].get<double>()
                    << "\n";
        }
      }
      std::cout << (j["pass"].get<bool>() ? "PASS" : "FAIL") << " (tolerance " << *tolerance << ")\n";
    }
    if (!j["pass"].get<bool>()) throw Error("model verify: outputs differ from " + io + " by more than " +
                                             std::to_string(*tolerance));
  });
}

}  // namespace scfm::cli
