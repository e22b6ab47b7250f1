// Broken checkpoints fail with one clear error naming the file and the key: truncated archives,
// pickles that ask for a global outside the allowlist, archives missing a tensor record, and
// state dicts whose shapes or dtypes do not fit a scBenchmark model.
#include <gtest/gtest.h>

#include <ATen/ops/zeros.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scfm/model/checkpoint.h"
#include "scfm/model/scbench/options.h"
#include "scfm/model/scbench/sc_model.h"
#include "scfm/model/scbench/state_dict.h"
#include "scfm/util/error.h"
#include "test_util.h"

using namespace scfm;
using scfm::model::StateDict;
namespace fs = std::filesystem;
namespace scbench = scfm::model::scbench;

namespace {

std::string fixture(const std::string& structure, const std::string& file) {
  return test::fixtures_dir() + "/scbench_" + structure + "/" + file;
}

// Runs `body` and returns the scfm::Error's message; fails the test when nothing is thrown.
template <class F>
std::string error_of(F&& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no scfm::Error";
  return "";
}

#define EXPECT_HAS(msg, phrase) EXPECT_NE((msg).find(phrase), std::string::npos) << "missing \"" << (phrase) << "\" in: " << (msg)

scbench::ScModel fixture_model(const std::string& structure) {
  scbench::ScModelConfig c = scbench::ScModelConfig::load(fixture(structure, "args.json"));
  const auto vocab = nlohmann::json::parse(test::read_text(fixture(structure, "vocab.json")));
  c.pad_token_id = vocab.value("<pad>", -1);
  c.cls_token_id = vocab.value("<cls>", -1);
  return scbench::make_scbench_model(c, static_cast<int64_t>(vocab.size()));
}

// Runs a small python3-torch program (written to `dir`) with `dir` as its argument.
void run_python_code(const test::TempDir& dir, const std::string& code) {
  const std::string script = dir / "make.py";
  test::write_text(script, code);
  auto r = test::run_command(std::string(SCFM_PYTHON) + " " + script + " " + dir.path() + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

TEST(CheckpointErrors, TruncatedArchive) {
  test::TempDir tmp;
  const std::string whole = test::read_text(fixture("transformer", "model.pt"));
  ASSERT_GT(whole.size(), 1000u);
  for (size_t keep : {whole.size() - 1, whole.size() - 22, whole.size() / 2, size_t(64), size_t(4)}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(whole.size()) + " bytes");
    const std::string path = tmp / ("cut" + std::to_string(keep) + ".pt");
    test::write_text(path, whole.substr(0, keep));
    const std::string msg = error_of([&] { model::load_state_dict(path); });
    EXPECT_HAS(msg, path);
    EXPECT_HAS(msg, "not a readable torch.save archive");
  }
  // An empty file and a file that is not a zip at all.
  test::write_text(tmp / "empty.pt", "");
  EXPECT_HAS(error_of([&] { model::load_state_dict(tmp / "empty.pt"); }), tmp / "empty.pt");
  test::write_text(tmp / "text.pt", "{\"weights\": []}");
  const std::string msg = error_of([&] { model::load_state_dict(tmp / "text.pt"); });
  EXPECT_HAS(msg, tmp / "text.pt");
  EXPECT_HAS(msg, "not a torch.save archive");
}

TEST(CheckpointErrors, ArchiveMissingATensorRecord) {
  test::TempDir tmp;
  // The fixture's archive rewritten without its first tensor record.
  run_python_code(tmp, R"(import sys, zipfile
src = ")" + fixture("linear_base", "model.pt") + R"("
out = sys.argv[1] + "/norecord.pt"
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
    names = zin.namelist()
    dropped = sorted(n for n in names if "/data/" in n)[0]
    for n in names:
        if n != dropped:
            zout.writestr(n, zin.read(n))
open(sys.argv[1] + "/dropped.txt", "w").write(dropped.split("/", 1)[1])
)");
  const std::string path = tmp / "norecord.pt";
  const std::string record = test::read_text(tmp / "dropped.txt");
  const std::string msg = error_of([&] { model::load_state_dict(path); });
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, record + ": missing from the archive");
}

// Pickles that REDUCE a global outside the allowlist: refused at the global, naming it and the
// file, without running anything.
TEST(CheckpointErrors, UnlistedGlobalsAreRefused) {
  test::TempDir tmp;
  run_python_code(tmp, R"(import collections, sys, torch
d = sys.argv[1]
class Reduce:
    def __init__(self, fn, args): self.fn, self.args = fn, args
    def __reduce__(self): return (self.fn, self.args)
w = torch.zeros(2)
# a container close to the allowed OrderedDict
torch.save(collections.defaultdict(list, {"w": w}), d + "/defaultdict.pt")
torch.save({"w": Reduce(collections.Counter, ({"a": 1},))}, d + "/counter.pt")
# allowed-looking torch rebuild functions that are not listed
torch.save({"w": Reduce(torch._utils._rebuild_tensor, (1, 2, 3, 4))}, d + "/rebuild_v1.pt")
torch.save({"w": Reduce(torch._utils._rebuild_qtensor, (1, 2))}, d + "/qtensor.pt")
torch.save({"w": Reduce(torch.load, (d + "/defaultdict.pt",))}, d + "/torch_load.pt")
)");
  const std::pair<const char*, const char*> cases[] = {
      {"defaultdict.pt", "checkpoint asks for collections.defaultdict: refused"},
      {"counter.pt", "checkpoint asks for collections.Counter: refused"},
      {"rebuild_v1.pt", "checkpoint asks for torch._utils._rebuild_tensor: refused"},
      {"qtensor.pt", "checkpoint asks for torch._utils._rebuild_qtensor: refused"},
      {"torch_load.pt", "checkpoint asks for torch.serialization.load: refused"},
  };
  for (const auto& [file, phrase] : cases) {
    SCOPED_TRACE(file);
    const std::string path = tmp / file;
    const std::string msg = error_of([&] { model::load_checkpoint(path); });
    EXPECT_HAS(msg, path);
    EXPECT_HAS(msg, phrase);
    EXPECT_HAS(error_of([&] { model::load_state_dict(path); }), phrase);
  }
}

// A state dict whose tensor has the wrong shape: the error names the file, the key and both shapes.
TEST(CheckpointErrors, WrongShapeNamesKeyAndShapes) {
  test::TempDir tmp;
  StateDict sd = model::load_state_dict(fixture("transformer", "model.pt"));
  for (auto& [name, t] : sd)
    if (name == "encoder.layers.1.self_attn.in_proj_weight") t = t.narrow(0, 0, 64).contiguous();
  const std::string path = tmp / "wrong_shape.pt";
  model::save_state_dict(sd, path);
  scbench::ScModel m = fixture_model("transformer");
  const std::string msg = error_of([&] { scbench::load_state_dict(*m, model::load_state_dict(path), true, path); });
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "shape mismatch: encoder.layers.1.self_attn.in_proj_weight: expected [96, 32], got [64, 32]");
}

// Dtypes. scbench::load_state_dict documents "the module's dtype wins" (as torch's
// Module.load_state_dict, which copy_()s): a float64 or float16 checkpoint loads into the float32
// model, rounded. Non-floating tensors (integers, bools) into a floating parameter are not
// weights anyone saved on purpose; they should be refused naming the key and both dtypes.
TEST(CheckpointErrors, FloatingDtypesConvert) {
  StateDict sd = model::load_state_dict(fixture("linear_base", "model.pt"));
  for (auto& [name, t] : sd)
    if (name == "decoder.0.weight") t = t.to(at::kDouble);
    else if (name == "decoder.2.weight") t = t.to(at::kHalf);
  scbench::ScModel m = fixture_model("linear_base");
  scbench::load_state_dict(*m, sd);
  auto params = m->named_parameters();
  EXPECT_EQ(params["decoder.0.weight"].scalar_type(), at::kFloat);
  EXPECT_TRUE(params["decoder.0.weight"].equal(model::find(sd, "decoder.0.weight")->to(at::kFloat)));
  EXPECT_TRUE(params["decoder.2.weight"].equal(model::find(sd, "decoder.2.weight")->to(at::kFloat)));
}

TEST(CheckpointErrors, NonFloatingDtypeNamesKeyAndDtypes) {
  test::TempDir tmp;
  StateDict sd = model::load_state_dict(fixture("linear_base", "model.pt"));
  for (auto& [name, t] : sd)
    if (name == "encoder.ffns.0.fc1.weight") t = (t * 100).to(at::kLong);
  const std::string path = tmp / "int_weight.pt";
  model::save_state_dict(sd, path);
  scbench::ScModel m = fixture_model("linear_base");
  const at::Tensor before = m->named_parameters()["encoder.ffns.0.fc1.weight"].clone();
  try {
    scbench::load_state_dict(*m, model::load_state_dict(path), true, path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_HAS(msg, path);
    EXPECT_HAS(msg, "encoder.ffns.0.fc1.weight");
    EXPECT_HAS(msg, "Long");
    EXPECT_TRUE(m->named_parameters()["encoder.ffns.0.fc1.weight"].equal(before)) << "a failed load copied";
    return;
  }
  FAIL() << "scbench::load_state_dict accepted an int64 tensor for the float32 parameter encoder.ffns.0.fc1.weight";
}

}  // namespace
