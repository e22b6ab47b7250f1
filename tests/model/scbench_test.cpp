// scBenchmark's scModel against outputs of the original PyTorch code (tests/fixtures/scbench_*:
// args.json, vocab.json, model.pt, io.pt; see the fixtures' README), plus loading errors, length
// checks and cnn_ours (no fixture: checked against cnn_base on pre-sorted tokens).
#include <gtest/gtest.h>

#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/rand.h>

#include <ATen/Context.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/gather.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <c10/core/GradMode.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "scfm/model/checkpoint.h"
#include "scfm/model/scbench/options.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/model/scbench/state_dict.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
using namespace scfm::model::scbench;
using scfm::model::StateDict;

namespace {

constexpr double kTol = 1e-4;

std::string fixture_dir(const std::string& structure) { return test::fixtures_dir() + "/scbench_" + structure; }

struct Vocabulary {
  int64_t size = 0, pad = -1, cls = -1;
};

Vocabulary read_vocab(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  nlohmann::json j;
  in >> j;
  Vocabulary v;
  v.size = static_cast<int64_t>(j.size());
  if (j.contains("<pad>")) v.pad = j["<pad>"].get<int64_t>();
  if (j.contains("<cls>")) v.cls = j["<cls>"].get<int64_t>();
  return v;
}

at::Tensor get(const StateDict& d, const std::string& name) {
  const at::Tensor* t = scfm::model::find(d, name);
  if (!t) throw std::runtime_error("io.pt has no " + name);
  return *t;
}

struct Fixture {
  ScModelConfig config;
  Vocabulary vocab;
  StateDict weights;
  StateDict io;
  ScModel model{nullptr};
};

// Builds the model from args.json + vocab size and loads model.pt strictly, in eval mode.
Fixture open_fixture(const std::string& structure) {
  Fixture f;
  const std::string dir = fixture_dir(structure);
  f.config = ScModelConfig::load(dir + "/args.json");
  f.vocab = read_vocab(dir + "/vocab.json");
  f.config.pad_token_id = f.vocab.pad;
  f.config.cls_token_id = f.vocab.cls;
  f.weights = scfm::model::load_state_dict(dir + "/model.pt");
  f.io = scfm::model::load_tensor_dict(dir + "/io.pt");
  f.model = make_scbench_model(f.config, f.vocab.size);
  load_state_dict(*f.model, f.weights, /*strict=*/true, dir + "/model.pt");
  f.model->eval();
  return f;
}

// The fixture's weights in a model of `config` (the fixture's, adjusted), in training mode.
ScModel training_model(const Fixture& f, const ScModelConfig& config) {
  ScModel m = make_scbench_model(config, f.vocab.size);
  load_state_dict(*m, f.weights);
  m->train();
  return m;
}

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }
double max_abs_where(const at::Tensor& a, const at::Tensor& b, const at::Tensor& keep) {
  return (a - b).abs().masked_select(keep).max().item<double>();
}

class ScBenchFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(ScBenchFixture, MatchesPyTorch) {
  const std::string structure = GetParam();
  Fixture f = open_fixture(structure);
  ASSERT_EQ(f.model->structure(), parse_structure(structure));
  c10::NoGradGuard no_grad;
  const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
  ScModelOutput out = f.model->forward(src, values, mask);

  const at::Tensor mlm = get(f.io, "mlm_output"), mvc = get(f.io, "mvc_output"), cell = get(f.io, "cell_emb");
  ASSERT_EQ(out.mlm_output.sizes(), mlm.sizes());
  ASSERT_EQ(out.mvc_output.sizes(), mvc.sizes());
  ASSERT_EQ(out.cell_emb.sizes(), cell.sizes());
  ASSERT_TRUE(mask.any().item<bool>() || structure != "transformer") << "the fixture should have pads";

  // transformer: PyTorch's eval fast path leaves pads' outputs at 0; compare where not padded.
  const at::Tensor keep = structure == "transformer" ? mask.logical_not() : at::ones_like(mask);
  const double d_mlm = max_abs_where(out.mlm_output, mlm, keep);
  const double d_mvc = max_abs_where(out.mvc_output, mvc, keep);
  const double d_cell = max_abs(out.cell_emb, cell);
  std::printf("[scbench] %-12s max |diff|: mlm_output %.3g  mvc_output %.3g  cell_emb %.3g\n", structure.c_str(),
              d_mlm, d_mvc, d_cell);
  EXPECT_LT(d_mlm, kTol);
  EXPECT_LT(d_mvc, kTol);
  EXPECT_LT(d_cell, kTol);
  if (structure == "transformer") {
    // Also at pads: our eval mode zeroes padded encoder outputs as the fast path does.
    const double all_mlm = max_abs(out.mlm_output, mlm), all_mvc = max_abs(out.mvc_output, mvc);
    std::printf("[scbench] transformer  including pads: mlm_output %.3g  mvc_output %.3g\n", all_mlm, all_mvc);
    EXPECT_LT(all_mlm, kTol);
    EXPECT_LT(all_mvc, kTol);
  }
  if (structure == "cnn_base" || structure == "linear_ours") EXPECT_TRUE(out.mlm_output.equal(out.mvc_output));
  EXPECT_FALSE(out.mvc_output.requires_grad());
}

INSTANTIATE_TEST_SUITE_P(ScBench, ScBenchFixture,
                         ::testing::Values("transformer", "gnn_cp", "cnn_base", "linear_ours", "linear_base"));

// The same model on the GPU (where LibTorch has CUDA) agrees with the CPU.
TEST(ScBenchDevice, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "LibTorch without CUDA or no GPU";
  for (const std::string structure : {"transformer", "gnn_cp", "cnn_base", "linear_ours", "linear_base"}) {
    Fixture f = open_fixture(structure);
    c10::NoGradGuard no_grad;
    const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
    ScModelOutput cpu = f.model->forward(src, values, mask);
    f.model->to(at::kCUDA);
    ScModelOutput gpu = f.model->forward(src.cuda(), values.cuda(), mask.cuda());
    EXPECT_TRUE(gpu.cell_emb.is_cuda());
    EXPECT_LT(max_abs(gpu.cell_emb.cpu(), cpu.cell_emb), kTol) << structure;
    EXPECT_LT(max_abs(gpu.mlm_output.cpu(), cpu.mlm_output), kTol) << structure;
    EXPECT_LT(max_abs(gpu.mvc_output.cpu(), cpu.mvc_output), kTol) << structure;
  }
}

// ---- loading by name ---------------------------------------------------------------------------

TEST(ScBenchLoad, StrictNamesRenamedKey) {
  Fixture f = open_fixture("gnn_cp");
  StateDict renamed = f.weights;
  for (auto& [name, t] : renamed)
    if (name == "encoder.layers.1.factor") name = "encoder.layers.1.factors";
  ScModel fresh = make_scbench_model(f.config, f.vocab.size);
  const at::Tensor before = fresh->named_parameters()["encoder.layers.1.factor"].clone();
  try {
    load_state_dict(*fresh, renamed, /*strict=*/true, "model.pt");
    FAIL() << "a renamed key must fail a strict load";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing key: encoder.layers.1.factor\n"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected key: encoder.layers.1.factors"), std::string::npos) << msg;
  }
  // A failed load copies nothing.
  EXPECT_TRUE(fresh->named_parameters()["encoder.layers.1.factor"].equal(before));

  // Not strict: the matching tensors load and both keys are reported, none dropped silently.
  LoadReport r = load_state_dict(*fresh, renamed, /*strict=*/false);
  ASSERT_EQ(r.missing, std::vector<std::string>{"encoder.layers.1.factor"});
  ASSERT_EQ(r.unexpected, std::vector<std::string>{"encoder.layers.1.factors"});
  EXPECT_EQ(r.loaded, static_cast<int64_t>(f.weights.size()) - 1);
  EXPECT_TRUE(fresh->named_parameters()["encoder.layers.0.factor"].equal(get(f.weights, "encoder.layers.0.factor")));
}

TEST(ScBenchLoad, EveryProblemIsListed) {
  Fixture f = open_fixture("linear_base");
  StateDict broken;
  for (const auto& [name, t] : f.weights)
    if (name != "decoder.4.bias" && name != "embedding.weight") broken.emplace_back(name, t);
  broken.emplace_back("extra.weight", at::zeros({2}));
  ScModel fresh = make_scbench_model(f.config, f.vocab.size);
  try {
    load_state_dict(*fresh, broken);
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("2 missing, 1 unexpected"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing key: decoder.4.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing key: embedding.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected key: extra.weight"), std::string::npos) << msg;
  }
}

TEST(ScBenchLoad, ShapeMismatchFailsEvenWhenNotStrict) {
  Fixture f = open_fixture("transformer");
  StateDict wrong = f.weights;
  for (auto& [name, t] : wrong)
    if (name == "encoder.layers.0.linear1.weight") t = at::zeros({64, 32});
  ScModel fresh = make_scbench_model(f.config, f.vocab.size);
  for (bool strict : {true, false}) {
    try {
      load_state_dict(*fresh, wrong, strict);
      FAIL() << "a shape mismatch must fail (strict=" << strict << ")";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("shape mismatch: encoder.layers.0.linear1.weight: expected [32, 32], got [64, 32]"),
                std::string::npos)
          << e.what();
    }
  }
  // A vocabulary of another size: the embedding and nothing else is named.
  ScModel bigger = make_scbench_model(f.config, f.vocab.size + 5);
  try {
    load_state_dict(*bigger, f.weights);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("embedding.weight: expected [48, 256], got [43, 256]"), std::string::npos) << e.what();
  }
}

TEST(ScBenchLoad, DuplicateKeyFails) {
  Fixture f = open_fixture("linear_base");
  StateDict twice = f.weights;
  twice.push_back(f.weights.front());
  EXPECT_THROW(load_state_dict(*f.model, twice), Error);
}

// ---- input checks ------------------------------------------------------------------------------

TEST(ScBenchInput, FixedLengthStructuresSayWhatTheyNeed) {
  for (const std::string structure : {"cnn_base", "linear_ours"}) {
    Fixture f = open_fixture(structure);
    c10::NoGradGuard no_grad;
    const int64_t B = 2, T = f.config.train_maxseq + 2;  // one token too many
    const at::Tensor src = at::zeros({B, T}, at::kLong), values = at::zeros({B, T}), mask = at::zeros({B, T}, at::kBool);
    try {
      f.model->forward(src, values, mask);
      FAIL() << structure << " must refuse " << T << " tokens";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("needs exactly train_maxseq + 1 = 16 tokens"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("got 17"), std::string::npos) << e.what();
    }
    EXPECT_EQ(f.model->required_length(), 16);
  }
  // Structures without a fixed length take any length.
  Fixture g = open_fixture("gnn_cp");
  c10::NoGradGuard no_grad;
  ScModelOutput out = g.model->forward(at::zeros({1, 5}, at::kLong), at::zeros({1, 5}), at::zeros({1, 5}, at::kBool));
  EXPECT_EQ(out.mlm_output.sizes(), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(g.model->required_length(), -1);
}

TEST(ScBenchInput, BadInputsNameTheProblem) {
  Fixture f = open_fixture("transformer");
  c10::NoGradGuard no_grad;
  const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
  auto message = [&](const at::Tensor& s, const at::Tensor& v, const at::Tensor& m) -> std::string {
    try {
      f.model->forward(s, v, m);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message(src + 100, values, mask).find("token id 141 outside the vocabulary [0, 43)"), std::string::npos);
  EXPECT_NE(message(src.to(at::kInt), values, mask).find("src must be int64"), std::string::npos);
  EXPECT_NE(message(src, values.narrow(1, 0, 3), mask).find("values must have src's shape"), std::string::npos);
  EXPECT_NE(message(src, values, mask.to(at::kFloat)).find("key_padding_mask must be bool"), std::string::npos);
  EXPECT_NE(message(src.flatten(), values, mask).find("src should have 2 dimensions"), std::string::npos);
}

// ---- cnn_ours: no fixture ----------------------------------------------------------------------

// cnn_ours = cnn_base run on the tokens sorted by vocabulary position (<cls> first, pads last);
// the MVC head keeps the input order. Checked against cnn_base on rows sorted here.
TEST(ScBenchCnnOurs, EqualsCnnBaseOnVocabOrderedTokens) {
  Fixture base = open_fixture("cnn_base");
  ScModelConfig config = base.config;
  config.model_structure = "cnn_ours";
  ScModel ours = make_scbench_model(config, base.vocab.size);
  load_state_dict(*ours, base.weights);  // same parameter names as cnn_base
  ours->eval();
  c10::NoGradGuard no_grad;

  const at::Tensor src = get(base.io, "src"), values = get(base.io, "values"), mask = get(base.io, "src_key_padding_mask");
  ScModelOutput o = ours->forward(src, values, mask);
  ASSERT_EQ(o.cell_emb.sizes(), (std::vector<int64_t>{src.size(0), config.embsize}));
  ASSERT_EQ(o.mvc_output.sizes(), src.sizes());
  EXPECT_TRUE(o.mlm_output.equal(o.mvc_output));

  // Sort keys: <cls> (41) first, genes (< 40) by id, <pad> (40) last.
  const at::Tensor key = at::where(src == base.vocab.cls, at::Scalar(int64_t{-1}), src);
  const at::Tensor order = at::argsort(key, int64_t{1}, false);
  const at::Tensor sorted_src = at::gather(src, 1, order), sorted_values = at::gather(values, 1, order);
  ScModelOutput b = base.model->forward(sorted_src, sorted_values, at::gather(mask, 1, order));
  EXPECT_LT(max_abs(o.cell_emb, b.cell_emb), 1e-5);
  // Per-token MVC in input order: undo the sort on cnn_base's output.
  EXPECT_LT(max_abs(o.mvc_output, at::gather(b.mvc_output, 1, at::argsort(order, int64_t{1}, false))), 1e-5);
  // And the order matters: cnn_base on the unsorted input differs.
  ScModelOutput unsorted = base.model->forward(src, values, mask);
  EXPECT_GT(max_abs(o.cell_emb, unsorted.cell_emb), 1e-3);
}

TEST(ScBenchCnnOurs, NeedsTokenIdsAndLength) {
  ScModelConfig config = ScModelConfig::load(fixture_dir("cnn_base") + "/args.json");
  config.model_structure = "cnn_ours";
  try {
    make_scbench_model(config, 43);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("pad_token_id and cls_token_id"), std::string::npos) << e.what();
  }
  config.pad_token_id = 40;
  config.cls_token_id = 41;
  ScModel m = make_scbench_model(config, 43);
  m->eval();
  c10::NoGradGuard no_grad;
  EXPECT_THROW(m->forward(at::zeros({1, 8}, at::kLong), at::zeros({1, 8}), at::zeros({1, 8}, at::kBool)), Error);
  ScModelOutput o = m->forward(at::zeros({2, 16}, at::kLong), at::zeros({2, 16}), at::zeros({2, 16}, at::kBool));
  EXPECT_EQ(o.cell_emb.sizes(), (std::vector<int64_t>{2, 32}));
  EXPECT_TRUE(o.cell_emb.isfinite().all().item<bool>());
}

// ---- config ------------------------------------------------------------------------------------

TEST(ScBenchConfig, ArgsJsonKeysDefaultsAndIgnoredKeys) {
  const nlohmann::json args = {{"model_structure", "gnn_cp"}, {"embsize", 64}, {"lr", 0.001}, {"batch_size", 128}};
  ScModelConfig c = ScModelConfig::from_json(args);
  EXPECT_EQ(c.structure(), Structure::kGnnCp);
  EXPECT_EQ(c.embsize, 64);
  EXPECT_EQ(c.nlayers, 6);  // scBenchmark's argparse defaults
  EXPECT_EQ(c.nheads, 8);
  EXPECT_EQ(c.dict_size, 256);
  EXPECT_EQ(c.train_maxseq, 512);
  EXPECT_EQ(c.cell_emb_style, "cls");
  EXPECT_DOUBLE_EQ(c.max_value, 512);
  EXPECT_EQ(c.feedforward_width(), 64);  // the released transformer uses d_model
  EXPECT_EQ(c.ignored_keys, (std::vector<std::string>{"batch_size", "lr"}));

  ScModelConfig round = ScModelConfig::from_json(c.to_json());
  EXPECT_EQ(round.to_json(), c.to_json());
  EXPECT_TRUE(round.ignored_keys.empty());

  ScModelConfig fixture = ScModelConfig::load(fixture_dir("transformer") + "/args.json");
  EXPECT_EQ(fixture.nlayers, 2);
  EXPECT_EQ(fixture.nheads, 4);
  EXPECT_TRUE(fixture.ignored_keys.empty());
}

TEST(ScBenchConfig, ErrorsNameTheKey) {
  try {
    ScModelConfig::from_json({{"nlayers", "two"}}, "run/args.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(e.field(), "nlayers");
    EXPECT_NE(std::string(e.what()).find("run/args.json"), std::string::npos);
  }
  try {
    ScModelConfig::from_json({{"model_structure", "mamba"}});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("mamba_ssm"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ScModelConfig::from_json({{"model_structure", "rnn"}}), FormatError);
  ScModelConfig odd = ScModelConfig::from_json({{"embsize", 30}, {"nheads", 4}});
  EXPECT_THROW(make_scbench_model(odd, 10), Error);
}

// Training mode (dropout, BatchNorm batch statistics) runs for every structure, and gradients
// reach every encoder parameter, the MVC head and the embedding.
TEST(ScBenchTrain, BackwardRuns) {
  for (const std::string structure : {"transformer", "gnn_cp", "cnn_base", "cnn_ours", "linear_ours", "linear_base"}) {
    const std::string fx = structure == "cnn_ours" ? "cnn_base" : structure;
    Fixture f = open_fixture(fx);
    ScModelConfig config = f.config;
    config.model_structure = structure;
    config.dropout = 0.1;
    ScModel m = training_model(f, config);
    const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
    ScModelOutput out = m->forward(src, values, mask);
    (out.mlm_output.sum() + out.mvc_output.sum()).backward();
    for (const auto& p : m->encoder->named_parameters())
      EXPECT_TRUE(p.value().grad().defined()) << structure << ": no gradient at encoder." << p.key();
    EXPECT_TRUE(m->gene2query->named_parameters()["0.weight"].grad().defined()) << structure;
    EXPECT_TRUE(m->embedding->weight.grad().defined()) << structure;
  }
}

// With loss positions the heads run there only: the outputs there, the masked loss and every
// parameter gradient must equal a full forward's; other positions are 0.
TEST(ScBenchTrain, LossPositionsGiveTheSameLossAndGradients) {
  for (const std::string structure : {"transformer", "gnn_cp", "cnn_base", "linear_ours", "linear_base"}) {
    Fixture f = open_fixture(structure);
    ScModelConfig config = f.config;
    config.dropout = 0;
    ScModel m = training_model(f, config);
    const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
    at::Tensor positions = (at::rand(src.sizes()) < 0.3).logical_and(mask.logical_not());
    positions.select(1, 0).fill_(false);
    ASSERT_GT(positions.sum().item<int64_t>(), 0);
    const at::Tensor target = at::randn(src.sizes()), w = positions.to(at::kFloat);
    std::vector<at::Tensor> grads[2];
    ScModelOutput outs[2];
    double losses[2];
    for (int run = 0; run < 2; ++run) {
      m->zero_grad(/*set_to_none=*/true);
      outs[run] = m->forward(src, values, mask, run ? positions : at::Tensor());
      at::Tensor loss = ((outs[run].mlm_output - target).square() * w).sum() + ((outs[run].mvc_output - target).square() * w).sum();
      loss.backward();
      losses[run] = loss.item<double>();
      for (const auto& p : m->parameters()) grads[run].push_back(p.grad().defined() ? p.grad().clone() : at::Tensor());
    }
    EXPECT_NEAR(losses[1], losses[0], 1e-5 * std::abs(losses[0])) << structure;
    EXPECT_LT((outs[1].mvc_output - outs[0].mvc_output * w).abs().max().item<double>(), 1e-5) << structure;
    EXPECT_LT((outs[1].mlm_output - outs[0].mlm_output * w).abs().max().item<double>(), 1e-5) << structure;
    for (size_t i = 0; i < grads[0].size(); ++i) {
      ASSERT_EQ(grads[0][i].defined(), grads[1][i].defined()) << structure << " parameter " << i;
      if (grads[0][i].defined())
        EXPECT_LT((grads[1][i] - grads[0][i]).abs().max().item<double>(), 1e-5 * (1 + grads[0][i].abs().max().item<double>()))
            << structure << " parameter " << i;
    }
  }
}

// From the second backward on, the gene embedding's rows are added into its existing dense
// gradient (sc_model.cpp): the gradient must stay dense and equal what the first, dense, pass gave.
TEST(ScBenchTrain, EmbeddingGradientIsTheSameWhenAddedByRows) {
  Fixture f = open_fixture("transformer");
  ScModelConfig config = f.config;
  config.dropout = 0;
  ScModel m = training_model(f, config);
  const at::Tensor src = get(f.io, "src"), values = get(f.io, "values"), mask = get(f.io, "src_key_padding_mask");
  auto backward = [&] {
    ScModelOutput out = m->forward(src, values, mask);
    (out.mlm_output.square().sum() + out.mvc_output.square().sum()).backward();
  };
  backward();  // no gradient yet: the dense path
  const at::Tensor first = m->embedding->weight.grad().clone();
  ASSERT_GT(first.abs().sum().item<double>(), 0);
  m->zero_grad();  // zeroed, kept
  backward();      // rows added into the dense gradient
  const at::Tensor second = m->embedding->weight.grad();
  EXPECT_FALSE(second.is_sparse());
  EXPECT_TRUE(at::equal(first, second));
  backward();  // accumulating, as micro-batches do
  EXPECT_TRUE(at::allclose(m->embedding->weight.grad(), 2 * first, 1e-6, 0));
}

}  // namespace

// scBenchmark's perturbation variant (model_perturb.py): gene identities only, a vector added to
// the <cls> token's raw gene embedding (before emb_trans). Checked on the fixture's weights: the
// values do not matter, a zero offset is no offset, and an offset equals editing the <cls> row of
// the embedding table by the same vector (with dict_size != embsize, i.e. through emb_trans).
TEST(ScBenchPerturb, GeneOnlyForwardWithAClsOffsetIsAnEmbeddingEditOfCls) {
  for (int64_t dict : {int64_t{-1}, int64_t{24}}) {
    SCOPED_TRACE(dict);
    Fixture f = open_fixture("transformer");
    ScModelConfig config = f.config;
    if (dict > 0) config.dict_size = dict;
    torch::manual_seed(5);
    ScModel m = make_scbench_model(config, f.vocab.size);
    if (dict < 0) load_state_dict(*m, f.weights);
    m->eval();
    torch::NoGradGuard ng;
    const at::Tensor src = get(f.io, "src"), mask = get(f.io, "src_key_padding_mask");
    const int64_t d = m->embedding->weight.size(1);
    const at::Tensor off = at::randn({src.size(0), d});
    const ScModelOutput a = m->forward_gene_only(src, mask, off);
    // values are not read: forward_gene_only has none; the zero offset equals no offset
    const ScModelOutput none = m->forward_gene_only(src, mask, {});
    const ScModelOutput zero = m->forward_gene_only(src, mask, at::zeros({1, d}));
    EXPECT_LE(max_abs(none.cell_emb, zero.cell_emb), 1e-6);
    EXPECT_GT(max_abs(a.cell_emb, none.cell_emb), 1e-3);
    // row 0 of each cell is <cls>; editing the table's <cls> row by cell r's offset reproduces cell r
    for (int64_t r = 0; r < src.size(0); ++r) {
      ASSERT_EQ(src[r][0].item<int64_t>(), f.vocab.cls);
      const at::Tensor saved = m->embedding->weight[f.vocab.cls].clone();
      m->embedding->weight[f.vocab.cls].add_(off[r]);
      const ScModelOutput e = m->forward_gene_only(src.narrow(0, r, 1), mask.narrow(0, r, 1), {});
      m->embedding->weight[f.vocab.cls].copy_(saved);
      EXPECT_LE(max_abs(e.cell_emb, a.cell_emb.narrow(0, r, 1)), 1e-5);
      const at::Tensor keep = mask.narrow(0, r, 1).logical_not();
      keep[0][0].fill_(false);  // the <cls> position's query differs (documented)
      EXPECT_LE(max_abs_where(e.mvc_output, a.mvc_output.narrow(0, r, 1), keep), 1e-4);
    }
    EXPECT_THROW(m->forward_gene_only(src, mask, at::zeros({1, d + 1})), scfm::Error);
  }
}
