#include "scfm/model/factory.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/model/scbench/transformer.h"
#include "scfm/model/scbench/state_dict.h"
#include "scfm/model/scgpt/load.h"
#include "scfm/model/scgpt/transformer_model.h"
#include "scfm/util/error.h"
#include "scfm/util/json_file.h"

namespace scfm::model {
namespace {

namespace fs = std::filesystem;

bool is_scgpt(const nlohmann::json& args) {
  // scGPT's released args.json has no model_structure; scfm runs of scGPT models say "scgpt"
  return !args.contains("model_structure") || args["model_structure"] == "scgpt";
}

// Runs x through layers[0, layer) and returns layer `layer`'s attention logits (negative: from the end).
at::Tensor layers_attention(std::vector<EncoderLayer>& layers, at::Tensor x, const at::Tensor& mask, int64_t layer) {
  const int64_t n = static_cast<int64_t>(layers.size());
  const int64_t l = layer < 0 ? n + layer : layer;
  if (l < 0 || l >= n)
    throw Error("attention: layer " + std::to_string(layer) + " out of range; the model has " + std::to_string(n) +
                " encoder layers (0.." + std::to_string(n - 1) + ", or -1 for the last)");
  for (int64_t i = 0; i < l; ++i) x = layers[i]->forward(x, mask);
  return layers[l]->attention_logits(x, mask);
}

class ScBenchAdapter : public PretrainModel {
 public:
  ScBenchAdapter(scbench::ScModel m, nlohmann::json extra) : m_(std::move(m)), extra_(std::move(extra)) {}
  MlmOutputs forward(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& mask,
                     const at::Tensor& loss_positions = {}) override {
    scbench::ScModelOutput o = m_->forward(genes, values, mask, loss_positions);
    MlmOutputs r;
    r.mlm = o.mlm_output;
    r.mvc = o.mvc_output;
    r.cell_emb = o.cell_emb;
    r.tokens = o.tokens;
    return r;
  }
  torch::nn::Module& module() override { return *m_; }
  nlohmann::json args() const override {
    nlohmann::json a = extra_;
    a.update(m_->config().to_json());
    return a;
  }
  std::string structure() const override { return m_->config().model_structure; }
  bool per_token() const override { return m_->encoder->per_token(); }
  at::Tensor gene_embeddings(const at::Tensor& ids) override {
    at::Tensor e = m_->embedding->forward(ids);
    return m_->emb_trans.is_empty() ? e : m_->emb_trans->forward(e);
  }
  at::Tensor attention_logits(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& mask,
                              int64_t layer) override {
    auto tf = std::dynamic_pointer_cast<scbench::TransformerEncoderImpl>(m_->encoder);
    if (!tf)
      throw Error("attention: model_structure " + structure() + " has no self-attention layers (transformer and scgpt have)");
    return layers_attention(tf->layer_list, m_->encoder_input(genes, values, mask), mask, layer);
  }

 private:
  scbench::ScModel m_;
  nlohmann::json extra_;  // run settings kept in args.json (preprocess_mode, n_bins, ...)
};

class ScGptAdapter : public PretrainModel {
 public:
  ScGptAdapter(scgpt::TransformerModel m, nlohmann::json extra) : m_(std::move(m)), extra_(std::move(extra)) {}
  MlmOutputs forward(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& mask,
                     const at::Tensor& /*loss_positions: scGPT's heads run everywhere*/ = {}) override {
    scgpt::ForwardOptions fo;
    fo.mvc = m_->config.do_mvc;
    scgpt::ForwardOutput o = m_->forward(genes, values, mask, {}, fo);
    MlmOutputs r;
    r.mlm = o.mlm_output;
    r.mvc = o.mvc_output;
    r.mlm_zero_probs = o.mlm_zero_probs;
    r.mvc_zero_probs = o.mvc_zero_probs;
    r.cell_emb = o.cell_emb;
    r.tokens = o.tokens;
    return r;
  }
  torch::nn::Module& module() override { return *m_; }
  nlohmann::json args() const override {
    nlohmann::json a = extra_;
    a.update(m_->config.to_json());
    a["model_structure"] = "scgpt";
    return a;
  }
  std::string structure() const override { return "scgpt"; }
  bool per_token() const override { return true; }
  at::Tensor gene_embeddings(const at::Tensor& ids) override { return m_->encoder->forward(ids); }
  at::Tensor attention_logits(const at::Tensor& genes, const at::Tensor& values, const at::Tensor& mask,
                              int64_t layer) override {
    const at::Tensor m = mask.defined() ? mask.to(at::kBool) : mask;
    return layers_attention(m_->transformer_encoder->stack, m_->encoder_input(genes, values, m), m, layer);
  }

 private:
  scgpt::TransformerModel m_;
  nlohmann::json extra_;
};

nlohmann::json run_keys(const nlohmann::json& args) {
  nlohmann::json extra = nlohmann::json::object();
  for (const char* k : {"preprocess_mode", "n_bins", "train_maxseq", "use_mvc", "max_seq_len", "input_style"})
    if (args.contains(k)) extra[k] = args[k];
  return extra;
}

nlohmann::json read_json(const std::string& path) { return util::read_json_file(path); }

}  // namespace

std::unique_ptr<PretrainModel> make_pretrain_model(const nlohmann::json& args, const io::Vocab& vocab) {
  if (is_scgpt(args)) {
    scgpt::ScGptConfig c = scgpt::ScGptConfig::from_json(args);
    c.ntoken = vocab.size();
    return std::make_unique<ScGptAdapter>(scgpt::TransformerModel(c, vocab.id(c.pad_token)), run_keys(args));
  }
  scbench::ScModelConfig c = scbench::ScModelConfig::from_json(args);
  c.pad_token_id = vocab.id(c.pad_token);
  c.cls_token_id = vocab.cls_id();
  return std::make_unique<ScBenchAdapter>(scbench::make_scbench_model(c, vocab.size()), run_keys(args));
}

std::unique_ptr<PretrainModel> load_pretrain_model(const std::string& folder, bool allow_partial) {
  const std::string args_path = folder + "/args.json";
  if (!fs::exists(args_path)) throw FormatError(folder, "args.json", "missing; expected a run or scGPT checkpoint folder");
  nlohmann::json args = read_json(args_path);
  if (is_scgpt(args)) {
    scgpt::ScGptLoadOptions lo;
    lo.allow_partial = allow_partial;
    scgpt::ScGptCheckpoint ck = scgpt::load_checkpoint_folder(folder, lo);
    return std::make_unique<ScGptAdapter>(ck.model, run_keys(args));
  }
  io::Vocab vocab = io::Vocab::load(folder + "/vocab.json");
  auto model = make_pretrain_model(args, vocab);
  std::string weights = folder + "/best_model.pt";
  if (!fs::exists(weights)) weights = folder + "/model.pt";
  if (!fs::exists(weights)) throw FormatError(folder, "best_model.pt", "missing (and no model.pt)");
  scbench::LoadReport report =
      scbench::load_state_dict(model->module(), load_state_dict(weights), !allow_partial, weights);
  if (!report.ok()) std::cerr << "scfm: " << weights << ": loaded partially:\n" << report.describe() << "\n";
  model->module().eval();
  return model;
}

InputConventions input_conventions(const nlohmann::json& args) {
  InputConventions c;
  c.mask_value = static_cast<float>(args.value("mask_value", -1.0));
  c.n_bins = args.value("n_bins", int64_t{51});
  if (is_scgpt(args)) {
    c.pad_value = static_cast<float>(args.value("pad_value", -2.0));
    c.cls_value = c.pad_value;  // scGPT's embedding pipeline gives <cls> the pad value
    const int64_t maxseq = args.value("train_maxseq", int64_t{-1});
    c.max_len = maxseq > 0 ? maxseq + 1 : args.value("max_seq_len", int64_t{1200});
    if (c.max_len <= 1) c.max_len = 1200;
    const std::string mode = args.value("preprocess_mode", std::string());
    c.binned = mode.empty() ? (args.value("input_emb_style", std::string("continuous")) == "category" ||
                               args.value("input_style", std::string("binned")) == "binned")
                            : mode == "bin";
  } else {
    c.pad_value = static_cast<float>(args.value("pad_value", 0.0));
    c.cls_value = static_cast<float>(args.value("cls_value", 0.0));
    c.max_len = args.value("train_maxseq", int64_t{512}) + 1;
    c.binned = args.value("preprocess_mode", std::string("none")) == "bin";
  }
  return c;
}

}  // namespace scfm::model
