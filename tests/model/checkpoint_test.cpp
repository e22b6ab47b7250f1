// torch.save checkpoints both ways, checked by python3-torch; hostile pickles are refused.
#include <gtest/gtest.h>

#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "scfm/io/torch_pickle.h"
#include "scfm/model/checkpoint.h"
#include "scfm/util/error.h"
#include "test_util.h"

using nlohmann::json;
using namespace std::string_literals;
using namespace scfm;
namespace fs = std::filesystem;

namespace {

json torch_dump(const std::string& path) {
  auto r = test::run_python("model/torch_client.py", "dump " + path + " 2>/dev/null");
  if (r.exit_code != 0) throw std::runtime_error("torch_client.py dump failed: " + r.output);
  return json::parse(r.output);
}

class Files {
 public:
  static Files& get() {
    static Files f;
    return f;
  }
  std::string operator()(const std::string& name) const { return dir_ / name; }
  std::string marker;

 private:
  Files() {
    auto r = test::run_python("model/torch_client.py", "make " + dir_.path() + " 2>&1");
    if (r.exit_code != 0) throw std::runtime_error("torch_client.py make failed: " + r.output);
    marker = json::parse(test::read_text(dir_ / "cases.json"))["marker"];
  }
  test::TempDir dir_;
};

void expect_same(const model::StateDict& got, const json& want) {
  std::vector<std::string> keys;
  for (auto& kv : got) keys.push_back(kv.first);
  EXPECT_EQ(json(keys), want["keys"]);
  for (auto& [name, t] : got) {
    SCOPED_TRACE(name);
    const json& w = want["tensors"][name];
    EXPECT_EQ(std::string(c10::toString(t.scalar_type())), w["dtype"] == "float32" ? "Float" : w["dtype"] == "float64" ? "Double"
              : w["dtype"] == "int64" ? "Long" : w["dtype"] == "bool" ? "Bool" : w["dtype"] == "float16" ? "Half" : w["dtype"].get<std::string>());
    EXPECT_EQ(json(t.sizes().vec()), w["shape"]);
    at::Tensor flat = t.to(at::kDouble).contiguous().flatten();
    ASSERT_EQ(static_cast<size_t>(flat.numel()), w["values"].size());
    for (int64_t i = 0; i < flat.numel(); ++i) {
      double v = w["values"][i].is_boolean() ? (w["values"][i].get<bool>() ? 1.0 : 0.0) : w["values"][i].get<double>();
      EXPECT_EQ(flat.data_ptr<double>()[i], v) << "element " << i;
    }
  }
}

}  // namespace

TEST(Checkpoint, ReadsWhatTorchSaveWrites) {
  auto& f = Files::get();
  model::StateDict sd = model::load_state_dict(f("state.pt"));
  expect_same(sd, torch_dump(f("state.pt")));
  // the view shares storage with its base, as in PyTorch
  const at::Tensor* base = model::find(sd, "encoder.weight");
  const at::Tensor* view = model::find(sd, "view.of.encoder");
  ASSERT_TRUE(base && view);
  EXPECT_EQ(base->storage().data(), view->storage().data());
}

TEST(Checkpoint, ReadsScBenchmarkAndScGptFixtures) {
  for (const char* fx : {"scbench_transformer", "scbench_gnn_cp", "scgpt_transformer"}) {
    SCOPED_TRACE(fx);
    std::string path = test::fixtures_dir() + "/" + fx + "/model.pt";
    expect_same(model::load_state_dict(path), torch_dump(path));
    std::string io = test::fixtures_dir() + "/" + fx + "/io.pt";
    model::StateDict tensors = model::load_tensor_dict(io);
    EXPECT_NE(model::find(tensors, "src"), nullptr);
    EXPECT_NE(model::find(tensors, "cell_emb"), nullptr);
  }
}

TEST(Checkpoint, ParametersAndDdpPrefix) {
  auto& f = Files::get();
  model::StateDict params = model::load_state_dict(f("params.pt"));
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "weight");
  model::StateDict ddp = model::load_state_dict(f("ddp.pt"));
  EXPECT_EQ(ddp[0].first, "encoder.weight");
  model::LoadOptions keep;
  keep.strip_ddp_prefix = false;
  EXPECT_EQ(model::load_state_dict(f("ddp.pt"), keep)[0].first, "module.encoder.weight");
}

TEST(Checkpoint, WritesWhatTorchLoadReadsWithWeightsOnly) {
  test::TempDir out;
  model::StateDict sd;
  sd.emplace_back("w", at::randn({3, 5}));
  sd.emplace_back("w_t", sd[0].second.t());  // non-contiguous: saved contiguous
  sd.emplace_back("ids", at::arange(10, at::kLong));
  sd.emplace_back("flags", at::ones({4}, at::kBool));
  sd.emplace_back("half", at::randn({6}).to(at::kHalf));
  sd.emplace_back("d", at::randn({2, 2}, at::kDouble));
  sd.emplace_back("scalar", at::ones({}, at::kFloat));
  std::string path = out / "ours.pt";
  model::save_state_dict(sd, path);
  expect_same(sd, torch_dump(path));
  // and back through our own reader
  model::StateDict again = model::load_state_dict(path);
  ASSERT_EQ(again.size(), sd.size());
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_TRUE(at::equal(again[i].second, sd[i].second)) << sd[i].first;
  for (auto& e : fs::directory_iterator(out.path())) EXPECT_EQ(e.path().filename(), "ours.pt");
}

TEST(Checkpoint, RefusesCodeInPickles) {
  auto& f = Files::get();
  const std::pair<const char*, const char*> cases[] = {
      {"evil_system.pt", "checkpoint asks for posix.system: refused"},
      {"evil_eval.pt", "checkpoint asks for __builtin__.eval: refused"},
      {"evil_proto4.pt", "checkpoint asks for posix.system: refused"},
      {"numpy.pt", "checkpoint asks for numpy."},
  };
  for (auto& [file, phrase] : cases) {
    SCOPED_TRACE(file);
    try {
      model::load_checkpoint(f(file));
      FAIL() << "loaded " << file;
    } catch (const scfm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(f(file)), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(f.marker)) << "a pickle ran code";
}

TEST(Checkpoint, LegacyFormatSaysHowToResave) {
  try {
    model::load_state_dict(Files::get()("legacy.pt"));
    FAIL();
  } catch (const scfm::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("legacy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("torch.save(torch.load("), std::string::npos) << e.what();
  }
}

// Hand-made hostile bytes, straight into the pickle machine.
TEST(TorchPickle, MalformedBytesFailCleanly) {
  auto run = [](const std::string& bytes) {
    return io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem.pkl");
  };
  auto expect_error = [&](const std::string& bytes, const std::string& phrase) {
    try {
      run(bytes);
      FAIL() << "accepted " << phrase;
    } catch (const scfm::Error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  expect_error(std::string("\x80\x02}", 3), "truncated");                       // no STOP
  expect_error(std::string("\x80\x02X\xff\xff\x00\x00" "ab.", 10), "runs past the end");  // length past the end
  expect_error(std::string("\x80\x02h\x05.", 5), "memo slot 5");                // GET of an unwritten slot
  expect_error(std::string("\x80\x02\xff.", 4), "unknown pickle opcode 0xff");
  expect_error("cos\nsystem\n(S'echo hi'\ntR.", "checkpoint asks for os.system: refused");
  expect_error("c__builtin__\ngetattr\n.", "checkpoint asks for __builtin__.getattr: refused");
  expect_error(std::string("\x80\x02(I1\nI2\ni.", 11), "refused");              // INST
  // a tensor view beyond its storage
  expect_error("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n("
               "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ"
               "K\x00K\x05\x85K\x01\x85\x89}tR."s,
      "reaches past its storage");
  // sizes and strides whose extent wraps around 64 bits (UBSan found the signed overflow, and a
  // wrapped extent could pass the storage check)
  const std::string big = "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40"s;  // LONG1 2^62
  expect_error("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n("
               "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ"
               "K\x00"s + big + big + "\x86"s + big + big + "\x86\x89}tR."s,
      "beyond 64 bits");
  // and a plain dict of numbers is fine
  auto v = run(std::string("\x80\x02}X\x01\x00\x00\x00" "aK\x07s.", 13));
  ASSERT_EQ(v->kind, io::PyValue::Kind::Dict);
  EXPECT_EQ(v->get("a")->i, 7);
}

// Found by fuzz/fuzz_pickle.cpp (tests/hostile/fuzz-pickle-mark-consumed.pkl): TUPLE1-3 could consume
// the stack below a MARK, and the next MARK-based op then built a vector of negative length
// (std::length_error escaping the parser). Both are refused as scfm errors now.
TEST(Checkpoint, StackConsumedBelowAMarkIsRefused) {
  auto refused = [](const std::string& bytes, const char* phrase) {
    try {
      io::unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.pkl");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  refused("\x80\x02K\x01(\x85t."s, "short stack");
  const std::string found = test::read_text(test::source_dir() + "/tests/hostile/fuzz-pickle-mark-consumed.pkl");
  refused(found, "x.pkl");
}

// Found by fuzz/fuzz_pickle.cpp (tests/hostile/fuzz-pickle-deep-tuples.pkl): 29,000 TUPLE1s nest a
// value that deep, and an opcode dropping it destroyed it recursively: a stack overflow under ASan.
// A million levels overflow any stack; dropped values now wait for the machine's iterative teardown.
TEST(Checkpoint, DroppingADeeplyNestedValueDoesNotRecurse) {
  std::string deep = "\x80\x02N";
  deep += std::string(1000000, '\x85');  // TUPLE1, a million times
  deep += "0N.";                         // POP the million-deep tuple, return None
  const io::PyPtr v = io::unpickle(reinterpret_cast<const uint8_t*>(deep.data()), deep.size(), "deep.pkl");
  EXPECT_EQ(v->kind, io::PyValue::Kind::None);
  // kept deep on the stack, it is refused by depth, and taken apart without recursion
  std::string kept = "\x80\x02N" + std::string(1000000, '\x85') + ".";
  EXPECT_THROW(io::unpickle(reinterpret_cast<const uint8_t*>(kept.data()), kept.size(), "deep.pkl"), Error);
  const std::string found = test::read_text(test::source_dir() + "/tests/hostile/fuzz-pickle-deep-tuples.pkl");
  try {
    io::unpickle(reinterpret_cast<const uint8_t*>(found.data()), found.size(), "found.pkl");
  } catch (const Error&) {
  }
}
