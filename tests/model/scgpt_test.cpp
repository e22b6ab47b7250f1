// scGPT's TransformerModel against the original code: two fixtures made by scgpt/model/model.py
// (tests/fixtures/scgpt_transformer{,_binned}/README.md), strict loading with the key report,
// and `scfm model info`.
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>
#include <torch/utils.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>

#include "scfm/model/checkpoint.h"
#include "scfm/model/scgpt/load.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
using namespace scfm::model::scgpt;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return test::fixtures_dir() + "/" + name; }

const at::Tensor& io_tensor(const model::StateDict& io, const std::string& name) {
  const at::Tensor* t = model::find(io, name);
  if (!t) throw std::runtime_error("io.pt has no " + name);
  return *t;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Runs the fixture's io.pt through `model` (eval, no grad) and compares every output.
// The model must already be on `device`.
void expect_fixture_outputs(TransformerModelImpl& model, const std::string& dir, const std::string& label,
                            at::Device device = at::kCPU) {
  model::StateDict io = model::load_tensor_dict(dir + "/io.pt");
  const at::Tensor src = io_tensor(io, "src").to(device);
  const at::Tensor values = io_tensor(io, "values").to(device);
  const at::Tensor mask = io_tensor(io, "src_key_padding_mask").to(device);
  model.eval();
  torch::NoGradGuard no_grad;
  ForwardOptions options;
  options.cls = true;
  options.mvc = true;
  ForwardOutput out = model.forward(src, values, mask, {}, options);
  at::Tensor encoded = model.encode(src, values, mask);
  std::vector<std::pair<std::string, at::Tensor>> got = {
      {"mlm_output", out.mlm_output}, {"mlm_zero_probs", out.mlm_zero_probs}, {"mvc_output", out.mvc_output},
      {"mvc_zero_probs", out.mvc_zero_probs}, {"cell_emb", out.cell_emb}, {"cls_output", out.cls_output},
      {"encode_output", encoded}};
  for (auto& [name, t] : got) {
    SCOPED_TRACE(label + " " + name);
    const at::Tensor& want = io_tensor(io, name);
    ASSERT_TRUE(t.defined());
    ASSERT_EQ(t.device().type(), device.type());
    ASSERT_EQ(t.sizes(), want.sizes());
    // Every position, pads included: scfm always runs the standard attention path.
    double diff = max_abs_diff(t.cpu(), want);
    std::printf("[ scgpt    ] %-10s %-15s max |diff| %.3g\n", label.c_str(), name.c_str(), diff);
    EXPECT_LE(diff, 1e-4);
  }
}

model::StateDict fixture_state(const std::string& dir) { return model::load_state_dict(dir + "/model.pt"); }

TransformerModel fresh_model(const std::string& dir) {
  ScGptConfig c = ScGptConfig::load(dir + "/args.json");
  io::Vocab v = io::Vocab::load(dir + "/vocab.json");
  return TransformerModel(c, v.pad_id());
}

std::string expect_throw_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected scfm::Error";
  return "";
}

const char* kContinuous = "scgpt_transformer";
const char* kCategory = "scgpt_transformer_binned";

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST(ScGptParity, ContinuousStyleMatchesOriginal) {
  ScGptCheckpoint ck = load_checkpoint_folder(fixture(kContinuous));
  EXPECT_TRUE(ck.report.complete()) << ck.report.format();
  EXPECT_EQ(ck.config.input_emb_style, "continuous");
  EXPECT_EQ(ck.report.loaded, ck.report.model_tensors);
  expect_fixture_outputs(*ck.model, fixture(kContinuous), "continuous");
}

TEST(ScGptParity, CategoryStyleMatchesOriginal) {
  ScGptCheckpoint ck = load_checkpoint_folder(fixture(kCategory));
  EXPECT_TRUE(ck.report.complete()) << ck.report.format();
  EXPECT_EQ(ck.config.input_emb_style, "category");
  EXPECT_EQ(ck.config.input_bins(), 53);
  expect_fixture_outputs(*ck.model, fixture(kCategory), "category");
}

// On the GPU (where LibTorch has CUDA; LibTorch 2.x runs scaled_dot_product_attention there).
TEST(ScGptDevice, CudaMatchesOriginal) {
  if (!at::hasCUDA()) GTEST_SKIP() << "LibTorch without CUDA or no GPU";
  for (const char* name : {kContinuous, kCategory}) {
    ScGptCheckpoint ck = load_checkpoint_folder(fixture(name));
    ck.model->to(at::kCUDA);
    expect_fixture_outputs(*ck.model, fixture(name), std::string(name == kContinuous ? "continuous" : "category") + "/cuda",
                           at::kCUDA);
  }
}

TEST(ScGptParity, FlashAttentionNamesLoadAndMatch) {
  for (const char* name : {kContinuous, kCategory}) {
    SCOPED_TRACE(name);
    TransformerModel m = fresh_model(fixture(name));
    KeyReport r = load_state(*m, model::load_state_dict(fixture(name) + "/model_flash_names.pt"));
    EXPECT_TRUE(r.complete()) << r.format();
    EXPECT_EQ(r.renamed.size(), 4u);  // 2 layers x (weight, bias)
    EXPECT_EQ(r.renamed[0].first, "transformer_encoder.layers.0.self_attn.Wqkv.weight");
    EXPECT_EQ(r.renamed[0].second, "transformer_encoder.layers.0.self_attn.in_proj_weight");
    expect_fixture_outputs(*m, fixture(name), std::string(name == kContinuous ? "continuous" : "category") + "/flash");
  }
}

TEST(ScGptParity, ScGptWrapperNamesAreRenamedToo) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  for (auto& [name, t] : state) {
    auto pos = name.find("self_attn.in_proj_");
    if (pos != std::string::npos) name = name.substr(0, pos) + "self_attn._impl.Wqkv." + name.substr(pos + 18);
    pos = name.find("self_attn.out_proj.");
    if (pos != std::string::npos) name = name.substr(0, pos) + "self_attn._impl.out_proj." + name.substr(pos + 19);
  }
  TransformerModel m = fresh_model(fixture(kContinuous));
  KeyReport r = load_state(*m, state);
  EXPECT_TRUE(r.complete()) << r.format();
  EXPECT_EQ(r.renamed.size(), 8u);
  expect_fixture_outputs(*m, fixture(kContinuous), "continuous/_impl");
}

// Styles the shared fixtures do not cover (scaling, avg-pool, w-pool, batch labels, DSBN,
// BatchNorm, DAB, concat/sum query, detached inner product, ECS), checked when
// SCFM_SCGPT_EXTRA_FIXTURES names a folder of <case>/{args.json, vocab.json, model.pt, io.pt}
// made by running the original scgpt/model/model.py (see docs/models_scgpt.md).
TEST(ScGptParity, ExtraFixturesFromEnvironment) {
  const char* root = std::getenv("SCFM_SCGPT_EXTRA_FIXTURES");
  if (!root || !*root) GTEST_SKIP() << "SCFM_SCGPT_EXTRA_FIXTURES not set";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!fs::is_regular_file(entry.path() / "io.pt")) continue;
    const std::string label = entry.path().filename().string();
    SCOPED_TRACE(label);
    ++cases;
    ScGptCheckpoint ck = load_checkpoint_folder(entry.path().string());
    EXPECT_TRUE(ck.report.complete()) << ck.report.format();
    model::StateDict io = model::load_tensor_dict((entry.path() / "io.pt").string());
    const at::Tensor* labels = model::find(io, "batch_labels");
    const at::Tensor batch = labels ? *labels : at::Tensor();
    torch::NoGradGuard no_grad;
    ForwardOptions o;
    o.cls = o.mvc = o.ecs = true;
    ForwardOutput out = ck.model->forward(io_tensor(io, "src"), io_tensor(io, "values"),
                                          io_tensor(io, "src_key_padding_mask"), batch, o);
    at::Tensor encoded =
        ck.model->encode(io_tensor(io, "src"), io_tensor(io, "values"), io_tensor(io, "src_key_padding_mask"), batch);
    std::vector<std::pair<std::string, at::Tensor>> got = {
        {"mlm_output", out.mlm_output}, {"mlm_zero_probs", out.mlm_zero_probs}, {"mvc_output", out.mvc_output},
        {"mvc_zero_probs", out.mvc_zero_probs}, {"cell_emb", out.cell_emb}, {"cls_output", out.cls_output},
        {"encode_output", encoded}, {"loss_ecs", out.loss_ecs}, {"dab_output", out.dab_output}};
    for (auto& [name, t] : got) {
      const at::Tensor* want = model::find(io, name);
      SCOPED_TRACE(name);
      ASSERT_EQ(want != nullptr, t.defined());
      if (!want) continue;
      ASSERT_EQ(t.sizes(), want->sizes());
      double diff = max_abs_diff(t, *want);
      std::printf("[ scgpt    ] %-16s %-15s max |diff| %.3g\n", label.c_str(), name.c_str(), diff);
      EXPECT_LE(diff, 1e-4);
    }
  }
  EXPECT_GT(cases, 0) << "no <case>/io.pt under " << root;
}

// With SCFM_SCGPT_EXTRA_FIXTURES (see above) and cases that hold `train_loss` and `grad.<name>`:
// one training step (dropout 0, train mode: BatchNorm on batch statistics, CCE on) with
// loss = sum over outputs of sum(output * sin(0, 1, 2, ...)); loss and every gradient compared.
TEST(ScGptParity, ExtraFixtureGradientsFromEnvironment) {
  const char* root = std::getenv("SCFM_SCGPT_EXTRA_FIXTURES");
  if (!root || !*root) GTEST_SKIP() << "SCFM_SCGPT_EXTRA_FIXTURES not set";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (!fs::is_regular_file(entry.path() / "io.pt")) continue;
    model::StateDict io = model::load_tensor_dict((entry.path() / "io.pt").string());
    if (!model::find(io, "train_loss")) continue;
    const std::string label = entry.path().filename().string();
    SCOPED_TRACE(label);
    ++cases;
    ScGptCheckpoint ck = load_checkpoint_folder(entry.path().string());
    const at::Tensor* labels = model::find(io, "batch_labels");
    ck.model->train();
    ForwardOptions o;
    o.cls = o.mvc = o.ecs = true;
    o.cce = ck.config.cell_emb_style != "w-pool";  // scGPT's CCE cannot run with w-pool
    ForwardOutput out = ck.model->forward(io_tensor(io, "src"), io_tensor(io, "values"),
                                          io_tensor(io, "src_key_padding_mask"), labels ? *labels : at::Tensor(), o);
    at::Tensor loss = at::zeros({});
    for (const at::Tensor& t : {out.mlm_output, out.mlm_zero_probs, out.cell_emb, out.cls_output, out.mvc_output,
                                out.mvc_zero_probs, out.loss_cce, out.loss_ecs, out.dab_output}) {
      if (!t.defined()) continue;
      at::Tensor w = t.dim() == 0 ? at::ones({}) : at::sin(at::arange(t.numel(), at::kFloat)).view(t.sizes());
      loss = loss + (t * w).sum();
    }
    loss.backward();
    double loss_diff = std::abs(loss.item<double>() - io_tensor(io, "train_loss").item<double>());
    EXPECT_LE(loss_diff, 1e-3) << loss.item<double>();
    double worst = 0;
    int n = 0;
    for (const auto& item : ck.model->named_parameters(true)) {
      const std::string& name = item.key();
      const at::Tensor& p = item.value();
      const at::Tensor* want = model::find(io, "grad." + name);
      if (!want) {
        const bool has_grad = p.grad().defined() && p.grad().abs().max().item<double>() > 0;
        EXPECT_FALSE(has_grad) << name << " has a gradient";
        continue;
      }
      ASSERT_TRUE(p.grad().defined()) << name;
      double d = max_abs_diff(p.grad(), *want) / std::max(1.0, want->abs().max().item<double>());
      EXPECT_LE(d, 1e-4) << name;
      worst = std::max(worst, d);
      ++n;
    }
    std::printf("[ scgpt    ] %-16s loss |diff| %.3g, %d gradients, max relative |diff| %.3g\n", label.c_str(),
                loss_diff, n, worst);
  }
  if (cases == 0) GTEST_SKIP() << "no case with train_loss under " << root;
}

TEST(ScGptModel, ParameterNamesAndOrderMatchTheStateDict) {
  for (const char* name : {kContinuous, kCategory}) {
    SCOPED_TRACE(name);
    model::StateDict file = fixture_state(fixture(name));
    model::StateDict mine = model::module_state(*fresh_model(fixture(name)));
    ASSERT_EQ(mine.size(), file.size());
    for (size_t i = 0; i < file.size(); ++i) {
      EXPECT_EQ(mine[i].first, file[i].first);
      EXPECT_EQ(mine[i].second.sizes(), file[i].second.sizes()) << file[i].first;
    }
  }
}

// ---------------------------------------------------------------------------------------------
TEST(ScGptKeys, MissingKeyIsNamedAndModelUnchanged) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  state.erase(std::remove_if(state.begin(), state.end(), [](auto& kv) { return kv.first == "cls_decoder.out_layer.bias"; }),
              state.end());
  TransformerModel m = fresh_model(fixture(kContinuous));
  at::Tensor before = m->encoder->embedding->weight.clone();
  std::string msg = expect_throw_message([&] { load_state(*m, state, {}, "model.pt"); });
  EXPECT_NE(msg.find("missing key(s) [cls_decoder.out_layer.bias]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.pt"), std::string::npos) << msg;
  EXPECT_TRUE(at::equal(before, m->encoder->embedding->weight)) << "a failed load changed the model";
}

TEST(ScGptKeys, UnexpectedKeyIsNamed) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  state.emplace_back("decoder.extra_head.weight", at::zeros({2, 2}));
  TransformerModel m = fresh_model(fixture(kContinuous));
  std::string msg = expect_throw_message([&] { load_state(*m, state); });
  EXPECT_NE(msg.find("unexpected key(s) [decoder.extra_head.weight]"), std::string::npos) << msg;
}

TEST(ScGptKeys, ShapeMismatchIsNamedWithBothShapes) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  for (auto& [name, t] : state)
    if (name == "decoder.fc.0.weight") t = at::zeros({32, 31});
  TransformerModel m = fresh_model(fixture(kContinuous));
  std::string msg = expect_throw_message([&] { load_state(*m, state); });
  EXPECT_NE(msg.find("shape mismatch: 'decoder.fc.0.weight' expected (32, 32), got (32, 31)"), std::string::npos)
      << msg;
}

TEST(ScGptKeys, EveryProblemIsReportedAtOnce) {
  model::StateDict state = fixture_state(fixture(kCategory));
  state.erase(state.begin());  // encoder.embedding.weight
  state.emplace_back("bogus", at::zeros({1}));
  for (auto& [name, t] : state)
    if (name == "value_encoder.embedding.weight") t = at::zeros({51, 32});
  TransformerModel m = fresh_model(fixture(kCategory));
  std::string msg = expect_throw_message([&] { load_state(*m, state); });
  EXPECT_NE(msg.find("encoder.embedding.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bogus"), std::string::npos) << msg;
  EXPECT_NE(msg.find("value_encoder.embedding.weight' expected (53, 32), got (51, 32)"), std::string::npos) << msg;
}

TEST(ScGptKeys, FlagEncoderIsIgnoredWithANote) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  state.emplace_back("flag_encoder.weight", at::zeros({2, 32}));
  TransformerModel m = fresh_model(fixture(kContinuous));
  KeyReport r = load_state(*m, state);
  EXPECT_TRUE(r.complete()) << r.format();
  ASSERT_EQ(r.ignored, std::vector<std::string>{"flag_encoder.weight"});
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("flag_encoder"), std::string::npos);
  EXPECT_NE(r.format().find("note:"), std::string::npos);
}

TEST(ScGptKeys, AllowPartialLoadsWhatMatchesAndReports) {
  model::StateDict state = fixture_state(fixture(kContinuous));
  const at::Tensor* want = model::find(state, "decoder.fc.4.weight");
  ASSERT_NE(want, nullptr);
  at::Tensor want_copy = want->clone();
  state.erase(std::remove_if(state.begin(), state.end(), [](auto& kv) { return kv.first == "cls_decoder.out_layer.bias"; }),
              state.end());
  state.emplace_back("surplus.weight", at::zeros({3}));
  for (auto& [name, t] : state)
    if (name == "decoder.fc.0.bias") t = at::zeros({7});
  TransformerModel m = fresh_model(fixture(kContinuous));
  ScGptLoadOptions o;
  o.allow_partial = true;
  KeyReport r = load_state(*m, state, o);
  EXPECT_FALSE(r.complete());
  EXPECT_EQ(r.missing, std::vector<std::string>{"cls_decoder.out_layer.bias"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"surplus.weight"});
  ASSERT_EQ(r.shape_mismatch.size(), 1u);
  EXPECT_EQ(r.shape_mismatch[0].name, "decoder.fc.0.bias");
  EXPECT_EQ(r.loaded, r.model_tensors - 2);
  EXPECT_TRUE(at::equal(m->decoder->fc->linears[2]->weight, want_copy));
  json j = r.to_json();
  EXPECT_EQ(j["missing"][0], "cls_decoder.out_layer.bias");
  EXPECT_EQ(j["shape_mismatch"][0]["file"], json({7}));
}

TEST(ScGptKeys, MissingFilesAreNamed) {
  test::TempDir dir;
  std::string msg = expect_throw_message([&] { load_checkpoint_folder(dir.path()); });
  EXPECT_NE(msg.find("best_model.pt or model.pt"), std::string::npos) << msg;
  fs::copy_file(fixture(kContinuous) + "/model.pt", dir / "best_model.pt");
  msg = expect_throw_message([&] { load_checkpoint_folder(dir.path()); });
  EXPECT_NE(msg.find("args.json"), std::string::npos) << msg;
}

// A checkpoint laid out like scGPT's released whole-human one: args.json with the released keys
// only, flash-attn Wqkv names, flag_encoder.weight, and no cls_decoder.* (pretraining has none).
TEST(ScGptKeys, ReleasedLayoutLoadsStrictlyWithSettingsFromTheWeights) {
  test::TempDir dir;
  json args = json::parse(test::read_text(fixture(kContinuous) + "/args.json"));
  for (const char* k : {"ntoken", "n_cls", "n_input_bins", "cell_emb_style", "mvc_decoder_style", "do_mvc",
                        "explicit_zero_prob", "pre_norm", "use_batch_labels", "domain_spec_batchnorm", "do_dab",
                        "layer_norm_eps", "activation", "batch_first", "norm_first", "value_max_clamp", "cls_value"})
    args.erase(k);
  test::write_text(dir / "args.json", args.dump(1));
  fs::copy_file(fixture(kContinuous) + "/vocab.json", dir / "vocab.json");
  model::StateDict released;
  for (auto& [name, t] : model::load_state_dict(fixture(kContinuous) + "/model_flash_names.pt"))
    if (name.rfind("cls_decoder.", 0) != 0) released.emplace_back(name, t);
  released.emplace_back("flag_encoder.weight", at::zeros({3, 32}));
  model::save_state_dict(released, dir / "best_model.pt");

  ScGptCheckpoint ck = load_checkpoint_folder(dir.path());  // strict
  EXPECT_TRUE(ck.report.complete()) << ck.report.format();
  EXPECT_TRUE(ck.config.explicit_zero_prob);  // inferred from decoder.zero_logit.*
  EXPECT_FALSE(ck.config.cls_decoder);
  EXPECT_FALSE(ck.model->cls_decoder);
  EXPECT_EQ(ck.config.ntoken, 43);
  std::string text = ck.report.format();
  EXPECT_NE(text.find("explicit_zero_prob"), std::string::npos) << text;
  EXPECT_NE(text.find("no cls_decoder"), std::string::npos) << text;
  EXPECT_NE(text.find("flag_encoder"), std::string::npos) << text;

  model::StateDict io = model::load_tensor_dict(fixture(kContinuous) + "/io.pt");
  torch::NoGradGuard no_grad;
  ForwardOptions o;
  o.mvc = true;
  ForwardOutput out = ck.model->forward(io_tensor(io, "src"), io_tensor(io, "values"), io_tensor(io, "src_key_padding_mask"), {}, o);
  EXPECT_LE(max_abs_diff(out.mlm_output, io_tensor(io, "mlm_output")), 1e-4);
  EXPECT_LE(max_abs_diff(out.mvc_zero_probs, io_tensor(io, "mvc_zero_probs")), 1e-4);
  EXPECT_LE(max_abs_diff(out.cell_emb, io_tensor(io, "cell_emb")), 1e-4);
  o.cls = true;
  std::string msg = expect_throw_message([&] {
    ck.model->forward(io_tensor(io, "src"), io_tensor(io, "values"), io_tensor(io, "src_key_padding_mask"), {}, o);
  });
  EXPECT_NE(msg.find("no cls_decoder"), std::string::npos) << msg;

  // Saying n_cls in args.json asks for a head the file lacks: strict loading names its keys.
  args["n_cls"] = 5;
  test::write_text(dir / "args.json", args.dump(1));
  msg = expect_throw_message([&] { load_checkpoint_folder(dir.path()); });
  EXPECT_NE(msg.find("missing key(s) [cls_decoder._decoder.0.weight"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
TEST(ScGptConfig, ReadsReleasedKeysAndListsUnknownOnes) {
  json args = json::parse(test::read_text(fixture(kContinuous) + "/args.json"));
  args["some_future_key"] = 3;
  ScGptConfig c = ScGptConfig::from_json(args, "args.json");
  EXPECT_EQ(c.embsize, 32);
  EXPECT_EQ(c.nheads, 4);
  EXPECT_EQ(c.d_hid, 64);
  EXPECT_EQ(c.nlayers, 2);
  EXPECT_EQ(c.n_layers_cls, 3);
  EXPECT_EQ(c.n_cls, 5);
  EXPECT_EQ(c.pad_value, -2);
  EXPECT_EQ(c.mask_value, -1);
  EXPECT_TRUE(c.explicit_zero_prob);
  EXPECT_TRUE(c.do_mvc);
  EXPECT_EQ(c.unknown_keys, std::vector<std::string>{"some_future_key"});
  EXPECT_EQ(c.training["lr"], 0.0001);
  ScGptConfig back = ScGptConfig::from_json(c.to_json());
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(ScGptConfig, ReleasedArgsWithoutExtraKeysGetScGptDefaults) {
  json args = json::parse(test::read_text(fixture(kContinuous) + "/args.json"));
  for (const char* k : {"ntoken", "n_cls", "n_input_bins", "cell_emb_style", "mvc_decoder_style", "do_mvc",
                        "explicit_zero_prob", "pre_norm", "use_batch_labels", "domain_spec_batchnorm", "do_dab",
                        "layer_norm_eps", "activation", "batch_first", "norm_first", "value_max_clamp", "cls_value"})
    args.erase(k);
  ScGptConfig c = ScGptConfig::from_json(args);
  EXPECT_EQ(c.ntoken, -1);
  EXPECT_EQ(c.n_cls, 1);
  EXPECT_TRUE(c.do_mvc);  // from "MVC"
  EXPECT_FALSE(c.explicit_zero_prob);
  EXPECT_EQ(c.cell_emb_style, "cls");
  EXPECT_TRUE(c.unknown_keys.empty());
}

TEST(ScGptConfig, BadValuesNameTheKey) {
  json args = json::parse(test::read_text(fixture(kContinuous) + "/args.json"));
  args["input_emb_style"] = "fancy";
  std::string msg = expect_throw_message([&] { ScGptConfig::from_json(args, "x/args.json"); });
  EXPECT_NE(msg.find("x/args.json: input_emb_style"), std::string::npos) << msg;
  args["input_emb_style"] = "continuous";
  args["nheads"] = 5;
  msg = expect_throw_message([&] { ScGptConfig::from_json(args, "x/args.json"); });
  EXPECT_NE(msg.find("nheads"), std::string::npos) << msg;
  args["nheads"] = "four";
  msg = expect_throw_message([&] { ScGptConfig::from_json(args, "x/args.json"); });
  EXPECT_NE(msg.find("expected an integer"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
TEST(ScGptModel, GradientReversalNegatesGradients) {
  at::Tensor x = at::randn({3, 4}).set_requires_grad(true);
  grad_reverse(x, 2.0).sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), at::full({3, 4}, -2.0)));
}

TEST(ScGptModel, OtherStylesBuildRunAndTrain) {
  struct Case {
    const char* what;
    std::function<void(ScGptConfig&)> set;
  };
  std::vector<Case> cases = {
      {"scaling + avg-pool", [](ScGptConfig& c) { c.input_emb_style = "scaling"; c.cell_emb_style = "avg-pool"; }},
      {"w-pool", [](ScGptConfig& c) { c.cell_emb_style = "w-pool"; }},
      {"batch labels + dsbn + dab", [](ScGptConfig& c) {
         c.use_batch_labels = true; c.num_batch_labels = 3; c.domain_spec_batchnorm = "dsbn"; c.do_dab = true; }},
      {"batchnorm", [](ScGptConfig& c) { c.domain_spec_batchnorm = "batchnorm"; c.num_batch_labels = 2; }},
      {"concat query", [](ScGptConfig& c) { c.mvc_decoder_style = "concat query"; c.explicit_zero_prob = false; }},
      {"sum query + pre-norm flash + gelu", [](ScGptConfig& c) {
         c.mvc_decoder_style = "sum query"; c.explicit_zero_prob = false; c.pre_norm = true;
         c.fast_transformer = true; c.activation = "gelu"; }},
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.what);
    ScGptConfig c = ScGptConfig::load(fixture(kContinuous) + "/args.json");
    c.dropout = 0.1;
    k.set(c);
    TransformerModel m(c, 40);
    m->train();
    at::Tensor src = at::randint(0, 40, {4, 9});
    at::Tensor values = at::randn({4, 9}).abs();
    at::Tensor mask = at::zeros({4, 9}, at::kBool);
    mask[2][7].fill_(true);
    at::Tensor labels;
    if (c.use_batch_labels || !c.domain_spec_batchnorm.empty()) labels = at::zeros({4}, at::kLong);
    ForwardOptions o;
    o.cls = o.mvc = o.ecs = o.cce = true;
    ForwardOutput out = m->forward(src, values, mask, labels, o);
    ASSERT_EQ(out.mlm_output.sizes(), (std::vector<int64_t>{4, 9}));
    ASSERT_EQ(out.mvc_output.sizes(), (std::vector<int64_t>{4, 9}));
    ASSERT_EQ(out.cell_emb.sizes(), (std::vector<int64_t>{4, 32}));
    at::Tensor loss = out.mlm_output.mean() + out.mvc_output.mean() + out.cls_output.mean() + out.loss_ecs +
                      out.loss_cce;
    if (out.dab_output.defined()) loss = loss + out.dab_output.mean();
    loss.backward();
    EXPECT_TRUE(m->encoder->embedding->weight.grad().defined());
    EXPECT_TRUE(at::isfinite(loss).item<bool>());
  }
}

TEST(ScGptModel, WrongInputsAreNamed) {
  TransformerModel m = fresh_model(fixture(kContinuous));
  at::Tensor src = at::randint(0, 40, {2, 5});
  std::string msg = expect_throw_message([&] { m->forward(src, at::zeros({2, 4}), at::zeros({2, 5}, at::kBool)); });
  EXPECT_NE(msg.find("values (2, 4)"), std::string::npos) << msg;
  msg = expect_throw_message([&] { m->forward(src, at::zeros({2, 5}), at::zeros({2, 5}, at::kBool), at::zeros({2}, at::kLong)); });
  EXPECT_NE(msg.find("batch_labels"), std::string::npos) << msg;
  msg = expect_throw_message([&] { m->forward(src + 100, at::zeros({2, 5}), at::zeros({2, 5}, at::kBool)); });
  EXPECT_NE(msg.find("gene id"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
TEST(ScGptCli, ModelInfoCountsParametersLikePyTorch) {
  for (const char* name : {kContinuous, kCategory}) {
    SCOPED_TRACE(name);
    test::TempDir dir;
    fs::copy_file(fixture(name) + "/model.pt", dir / "best_model.pt");
    fs::copy_file(fixture(name) + "/args.json", dir / "args.json");
    fs::copy_file(fixture(name) + "/vocab.json", dir / "vocab.json");
    auto py = test::run_command(std::string(SCFM_PYTHON) +
                                " -c \"import torch; sd = torch.load('" + dir / "best_model.pt" +
                                "'); print(sum(v.numel() for v in sd.values()))\" 2>&1");
    ASSERT_EQ(py.exit_code, 0) << py.output;
    int64_t want = std::stoll(py.output);

    auto r = test::run_command(test::scfm_binary() + " model info " + dir.path() + " --json 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    json j = json::parse(r.output);
    EXPECT_EQ(j["parameters"].get<int64_t>(), want);
    EXPECT_EQ(j["state_dict_elements"].get<int64_t>(), want);
    EXPECT_TRUE(j["keys"]["complete"].get<bool>());
    EXPECT_EQ(j["config"]["embsize"], 32);

    auto text = test::run_command(test::scfm_binary() + " model info " + dir.path() + " 2>&1");
    ASSERT_EQ(text.exit_code, 0) << text.output;
    EXPECT_NE(text.output.find(std::to_string(want)), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("transformer_encoder"), std::string::npos) << text.output;

    // A .pt path with args.json beside it works too; a damaged checkpoint is reported, not fatal.
    auto pt = test::run_command(test::scfm_binary() + " model info " + dir / "best_model.pt" + " --json 2>&1");
    ASSERT_EQ(pt.exit_code, 0) << pt.output;
  }
}

TEST(ScGptCli, ModelVerifyComparesAFixture) {
  for (const char* name : {kContinuous, kCategory}) {
    SCOPED_TRACE(name);
    auto r = test::run_command(test::scfm_binary() + " model verify " + fixture(name) + " --json 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    json j = json::parse(r.output);
    EXPECT_TRUE(j["pass"].get<bool>());
    EXPECT_EQ(j["outputs"].size(), 7u);
    for (const auto& o : j["outputs"]) EXPECT_LE(o["max_abs_diff"].get<double>(), 1e-4) << o;
  }
  auto strict = test::run_command(test::scfm_binary() + " model verify " + fixture(kContinuous) +
                                  " --tolerance 1e-12 2>&1");
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  EXPECT_NE(strict.output.find("FAIL"), std::string::npos) << strict.output;
  EXPECT_NE(strict.output.find("scfm: model verify: outputs differ"), std::string::npos) << strict.output;
}

// scGPT's TransformerGenerator (pert_flags): the pert_encoder added to every token and the
// AffineExprDecoder, against the same forward composed from PyTorch's own modules on the state
// dict scfm saves (tests/model/generator_reference.py), padded positions excluded.
TEST(ScGptGenerator, ForwardEqualsPyTorchModulesOnTheSavedStateDict) {
  ScGptConfig c = ScGptConfig::load(fixture(kContinuous) + "/args.json");
  c.pert_flags = true;
  c.do_mvc = false;
  c.explicit_zero_prob = false;
  torch::manual_seed(3);
  TransformerModel m(c, 0);
  {  // non-trivial decoders and pert rows (fresh Linear layers are fine; make the flags matter)
    torch::NoGradGuard ng;
    m->pert_encoder->weight.narrow(0, 0, 2).normal_(0, 1);
  }
  m->eval();
  const at::Tensor src = at::randint(1, c.ntoken, {3, 11});
  const at::Tensor values = at::randn({3, 11}).abs() * 2;
  at::Tensor flags = at::zeros({3, 11}, at::kLong);
  flags[0][2].fill_(1);
  flags[1][5].fill_(1);
  flags[1][6].fill_(1);
  flags[2][10].fill_(2);
  at::Tensor mask = at::zeros({3, 11}, at::kBool);
  mask[2][10].fill_(true);
  at::Tensor pred;
  {
    torch::NoGradGuard ng;
    pred = m->forward(src, values, mask, {}, {}, flags).mlm_output;
  }
  test::TempDir dir;
  model::save_state_dict(model::module_state(*m), dir / "model.pt");
  model::save_state_dict({{"src", src}, {"values", values}, {"flags", flags}, {"src_key_padding_mask", mask}},
                         dir / "io.pt");
  const auto r = test::run_python("model/generator_reference.py",
                                  (dir / "model.pt") + " " + (dir / "io.pt") + " " + (dir / "out.pt") + " " +
                                      std::to_string(c.nheads) + " " + std::to_string(c.d_hid) + " " +
                                      std::to_string(c.nlayers));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const at::Tensor want = io_tensor(model::load_tensor_dict(dir / "out.pt"), "pred");
  const at::Tensor keep = mask.logical_not();
  EXPECT_LE(max_abs_diff(pred.masked_select(keep), want.masked_select(keep)), 1e-5);
  // the flags change the output; without flags the model refuses, and flags outside 0..2 too
  at::Tensor none;
  {
    torch::NoGradGuard ng;
    none = m->forward(src, values, mask, {}, {}, at::zeros({3, 11}, at::kLong)).mlm_output;
  }
  EXPECT_GT(max_abs_diff(none.select(0, 0), pred.select(0, 0)), 1e-4);
  EXPECT_NE(expect_throw_message([&] { m->forward(src, values, mask); }).find("pert_flags are required"),
            std::string::npos);
  EXPECT_NE(expect_throw_message([&] { m->forward(src, values, mask, {}, {}, flags + 3); }).find("0 (not perturbed)"),
            std::string::npos);
  TransformerModel plain = fresh_model(fixture(kContinuous));
  EXPECT_NE(expect_throw_message([&] { plain->forward(src, values, mask, {}, {}, flags); }).find("no pert_encoder"),
            std::string::npos);
  // the padding row of pert_encoder is zero, as nn.Embedding(padding_idx=2) keeps it
  EXPECT_EQ(m->pert_encoder->weight[2].abs().sum().item<double>(), 0.0);
}
