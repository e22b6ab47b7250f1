// Train-mode gradient parity of scBenchmark's scModel against python3-torch.
//
// For each fixture (tests/fixtures/scbench_<structure>, dropout 0) the model is built from
// args.json, loads model.pt, runs io.pt's inputs in training mode and backpropagates
//   loss = masked_mse(mlm_output, target) + masked_mse(mvc_output, target)
//          + 0.1 * mean((mlm_output + mvc_output)^2)
// with the masked MSEs over the masked genes (values == mask_value) and the last term over every
// token, pads included (so the <pad> embedding row's gradient is checked too: zero, as
// padding_idx makes it in PyTorch); target[b, t] = sin(0.37 * (b * T + t) + 0.1).
// tests/model/grad_reference.py does the same with an independent torch.nn reference of the
// architecture (which it first checks against the fixture's eval outputs, i.e. the original code)
// and writes every parameter's gradient; here EVERY parameter's gradient is compared
// (|ours - theirs| <= kAbs + kRel * |theirs|), parameters that get no gradient in PyTorch
// (grad None) must get none (or an all-zero one) here, and BatchNorm running statistics after
// the step must agree too.
#include <gtest/gtest.h>

#include <ATen/ops/abs.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/zeros_like.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "scfm/model/checkpoint.h"
#include "scfm/model/scbench/options.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/model/scbench/state_dict.h"
#include "test_util.h"

using namespace scfm;
using namespace scfm::model::scbench;
using scfm::model::StateDict;

namespace {

constexpr double kRel = 1e-4;
constexpr double kAbs = 1e-5;

std::string fixture_dir(const std::string& structure) { return test::fixtures_dir() + "/scbench_" + structure; }

at::Tensor get(const StateDict& d, const std::string& name, const std::string& file) {
  const at::Tensor* t = scfm::model::find(d, name);
  if (!t) throw std::runtime_error(file + " has no " + name);
  return *t;
}

at::Tensor masked_mse(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kFloat);
  return ((pred - target).pow(2) * m).sum() / m.sum();
}

// The worst |a - b| relative to the tolerance, and the raw differences, over one tensor.
struct Diff {
  double max_abs = 0, max_rel = 0, worst_ratio = 0;  // worst_ratio <= 1 passes
};
Diff compare(const at::Tensor& ours, const at::Tensor& theirs) {
  const at::Tensor a = ours.to(at::kDouble), b = theirs.to(at::kDouble);
  const at::Tensor d = (a - b).abs();
  Diff r;
  r.max_abs = d.max().item<double>();
  const at::Tensor big = b.abs() > kAbs;  // relative differences where the value is not ~0
  if (big.any().item<bool>()) r.max_rel = (d / b.abs()).masked_select(big).max().item<double>();
  r.worst_ratio = (d / (kAbs + kRel * b.abs())).max().item<double>();
  return r;
}

class GradParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GradParity, EveryParameterGradientMatchesPyTorch) {
  const std::string structure = GetParam();
  const std::string dir = fixture_dir(structure);
  test::TempDir tmp;
  const std::string ref_path = tmp / "grads.pt";
  auto r = test::run_python("model/grad_reference.py", dir + " " + ref_path + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("[grad] %-12s reference vs fixture eval outputs: %s", structure.c_str(), r.output.c_str());
  const StateDict ref = scfm::model::load_tensor_dict(ref_path);

  // The model, as scbench_test builds it.
  ScModelConfig config = ScModelConfig::load(dir + "/args.json");
  ASSERT_EQ(config.dropout, 0.0) << "the fixture must have dropout 0";
  nlohmann::json vocab = nlohmann::json::parse(test::read_text(dir + "/vocab.json"));
  config.pad_token_id = vocab.value("<pad>", -1);
  config.cls_token_id = vocab.value("<cls>", -1);
  ScModel model = make_scbench_model(config, static_cast<int64_t>(vocab.size()));
  load_state_dict(*model, scfm::model::load_state_dict(dir + "/model.pt"), /*strict=*/true, dir + "/model.pt");
  model->train();
  model->zero_grad();

  const StateDict io = scfm::model::load_tensor_dict(dir + "/io.pt");
  const at::Tensor src = get(io, "src", "io.pt"), values = get(io, "values", "io.pt");
  const at::Tensor pad = get(io, "src_key_padding_mask", "io.pt");
  ScModelOutput out = model->forward(src, values, pad);
  const int64_t B = src.size(0), T = src.size(1);
  const at::Tensor target = at::sin(0.37 * at::arange(B * T, at::kFloat) + 0.1).view({B, T});
  const at::Tensor m = values == config.mask_value;
  ASSERT_GT(m.sum().item<int64_t>(), 0);
  at::Tensor loss = masked_mse(out.mlm_output, target, m) + masked_mse(out.mvc_output, target, m) +
                    0.1 * (out.mlm_output + out.mvc_output).pow(2).mean();
  loss.backward();

  const double ref_loss = get(ref, "loss", ref_path).item<double>();
  EXPECT_NEAR(loss.item<double>(), ref_loss, kAbs + kRel * std::abs(ref_loss));

  std::set<std::string> ours_names;
  Diff worst;
  std::string worst_name;
  int compared = 0, identical = 0;
  double largest_grad = 0;
  for (const auto& p : model->named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();
    SCOPED_TRACE(structure + " " + name);
    ours_names.insert(name);
    const at::Tensor& g = p.value().grad();
    if (scfm::model::find(ref, "nograd." + name)) {
      // PyTorch gives this parameter no gradient; we may give none or zeros.
      if (g.defined()) EXPECT_EQ(g.abs().max().item<double>(), 0.0) << "PyTorch has grad None";
      continue;
    }
    const at::Tensor* want = scfm::model::find(ref, "grad." + name);
    ASSERT_NE(want, nullptr) << "grad_reference.py has no parameter " << name;
    ASSERT_TRUE(g.defined()) << "no gradient here, PyTorch has one";
    ASSERT_EQ(g.sizes(), want->sizes());
    const Diff d = compare(g, *want);
    ++compared;
    identical += g.equal(*want);
    largest_grad = std::max(largest_grad, want->abs().max().item<double>());
    if (d.worst_ratio > worst.worst_ratio) worst = d, worst_name = name;
    EXPECT_LE(d.worst_ratio, 1.0) << "max |diff| " << d.max_abs << ", max rel " << d.max_rel;
  }
  EXPECT_GT(largest_grad, 1e-3) << "the loss should reach the parameters";
  // The reference names no parameter that the model lacks.
  for (const auto& [key, t] : ref)
    for (const char* prefix : {"grad.", "nograd."})
      if (key.rfind(prefix, 0) == 0) EXPECT_TRUE(ours_names.count(key.substr(std::string(prefix).size()))) << key;

  // BatchNorm running statistics after the step.
  int buffers = 0;
  for (const auto& b : model->named_buffers(/*recurse=*/true)) {
    const at::Tensor* want = scfm::model::find(ref, "buffer." + b.key());
    ASSERT_NE(want, nullptr) << "grad_reference.py has no buffer " << b.key();
    ++buffers;
    if (b.value().is_floating_point())
      EXPECT_LE(compare(b.value(), *want).worst_ratio, 1.0) << b.key();
    else
      EXPECT_TRUE(b.value().equal(*want)) << b.key();
  }
  std::printf("[grad] %-12s loss %.7g (PyTorch %.7g); %d gradients compared (%d bitwise equal, largest |grad| "
              "%.3g), worst %s: max |diff| %.3g, max rel %.3g (%.3g of the tolerance); %d buffers\n",
              structure.c_str(), loss.item<double>(), ref_loss, compared, identical, largest_grad,
              worst_name.empty() ? "-" : worst_name.c_str(), worst.max_abs, worst.max_rel, worst.worst_ratio, buffers);
}

INSTANTIATE_TEST_SUITE_P(ScBench, GradParity,
                         ::testing::Values("transformer", "linear_base", "cnn_base", "gnn_cp", "linear_ours"));

}  // namespace
