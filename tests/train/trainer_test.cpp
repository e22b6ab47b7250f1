// The pretraining loop with a small stand-in model: exact resume, and 2 processes (c10d/Gloo)
// computing the same weights as 1 process with the same global batch.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/tanh.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sys/wait.h>

#include "scfm/io/h5ad.h"
#include "scfm/io/vocab.h"
#include "scfm/model/checkpoint.h"
#include "scfm/store/ingest.h"
#include "scfm/store/reader.h"
#include "scfm/train/distributed.h"
#include "scfm/train/trainer.h"
#include "scfm/util/error.h"
#include "test_util.h"

extern char** environ;
using namespace scfm;
namespace fs = std::filesystem;

namespace {

// gene embedding + value projection -> tanh -> per-token output; cell embedding = <cls> token.
struct TinyNet : torch::nn::Module {
  torch::nn::Embedding emb{nullptr};
  torch::nn::Linear val{nullptr}, out{nullptr}, mvc{nullptr};
  TinyNet(int64_t vocab, int64_t d) {
    emb = register_module("emb", torch::nn::Embedding(vocab, d));
    val = register_module("val", torch::nn::Linear(1, d));
    out = register_module("out", torch::nn::Linear(d, 1));
    mvc = register_module("mvc", torch::nn::Linear(d, 1));
  }
};

class TinyModel : public model::PretrainModel {
 public:
  TinyModel(int64_t vocab, int64_t d) {
    torch::manual_seed(0);
    net_ = std::make_shared<TinyNet>(vocab, d);
  }
  model::MlmOutputs forward(const at::Tensor& genes, const at::Tensor& values, const at::Tensor&, const at::Tensor& = {}) override {
    at::Tensor h = at::tanh(net_->emb(genes) + net_->val(values.unsqueeze(-1)));
    model::MlmOutputs o;
    o.mlm = net_->out(h).squeeze(-1);
    o.mvc = net_->mvc(h).squeeze(-1);
    o.cell_emb = h.select(1, 0);
    return o;
  }
  torch::nn::Module& module() override { return *net_; }
  nlohmann::json args() const override { return {{"model_structure", "tiny"}}; }
  std::string structure() const override { return "tiny"; }
  bool per_token() const override { return false; }
  at::Tensor gene_embeddings(const at::Tensor& ids) override { return net_->emb(ids); }
  at::Tensor attention_logits(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t) override { return {}; }

 private:
  std::shared_ptr<TinyNet> net_;
};

struct Fixture {
  test::TempDir dir;
  io::Vocab vocab;
  std::string store_path;
  Fixture() {
    std::string h5ad = test::real_data("pbmc_small.h5ad");
    vocab = io::Vocab::build({io::read_h5ad(h5ad).var_names()});
    store_path = dir / "store";
    store::ingest({h5ad}, vocab, store_path);
  }
};
Fixture& fixture() {
  static Fixture f;
  return f;
}

train::PretrainOptions options(const std::string& out) {
  train::PretrainOptions o;
  o.out_dir = out;
  o.epochs = 2;
  o.batch_size = 16;
  o.schedule.lr = 1e-2;
  o.schedule.warmup_steps = 3;
  o.use_mvc = true;
  o.log_interval = 2;
  o.seed = 7;
  o.batch.tokenizer.max_len = 48;
  o.batch.tokenizer.cls_id = fixture().vocab.cls_id();
  o.batch.tokenizer.pad_id = fixture().vocab.pad_id();
  o.batch.tokenizer.pad_value = 0;
  o.batch.tokenizer.use_weighted_sampling = true;
  o.batch.mask.mask_ratio = 0.4;
  o.progress = false;
  return o;
}

model::StateDict weights(const std::string& run) {
  model::StateDict out;
  for (auto& [k, v] : model::load_state_dict(run + "/train_state.pt"))
    if (k.rfind("model.", 0) == 0) out.emplace_back(k, v);
  return out;
}

}  // namespace

TEST(Trainer, WritesAScGptStyleRunFolderAndLearns) {
  test::TempDir out;
  auto store = store::CellStore::open(fixture().store_path);
  TinyModel m(fixture().vocab.size(), 16);
  auto o = options(out.path());
  o.epochs = 3;
  train::PretrainResult r = train::pretrain(m, store, nullptr, fixture().vocab, o);
  EXPECT_EQ(r.steps, 3 * 5);  // 72 training cells (10% of 80 held out), batches of 16
  for (const char* f : {"args.json", "vocab.json", "best_model.pt", "model-ep1.pt", "model-ep3.pt", "train_state.pt",
                        "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  // python3-torch reads the checkpoint, scfm's vocab loader the vocab
  auto py = test::run_command(std::string(SCFM_PYTHON) + " -c \"import torch; sd=torch.load('" + (out / "best_model.pt") +
                              "', weights_only=True); print(sorted(sd.keys()))\" 2>/dev/null");
  EXPECT_EQ(py.output, "['emb.weight', 'mvc.bias', 'mvc.weight', 'out.bias', 'out.weight', 'val.bias', 'val.weight']\n");
  EXPECT_EQ(io::Vocab::load(out / "vocab.json").size(), fixture().vocab.size());
  // training loss falls; validation reports scBenchmark's metrics and the gene-mean baseline
  std::ifstream in(out / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  std::vector<double> train_loss;
  for (auto& l : lines)
    if (l["kind"] == "train") train_loss.push_back(l["loss"]);
  ASSERT_GE(train_loss.size(), 4u);
  EXPECT_LT(train_loss.back(), train_loss.front());
  for (const char* k : {"mse", "weighted_loss", "relative_error", "mse_0_ln2", "mse_ln2_ln11", "gene_mean_baseline_mse"})
    EXPECT_TRUE(r.last_validation.contains(k)) << k;
}

TEST(Trainer, ResumeEndsWithTheSameWeights) {
  auto store = store::CellStore::open(fixture().store_path);
  test::TempDir a, b, c;
  {
    TinyModel m(fixture().vocab.size(), 16);
    train::pretrain(m, store, nullptr, fixture().vocab, options(a.path()));
  }
  for (int64_t stop : {3, 5, 7}) {  // mid-epoch 1, at the end of epoch 1, mid-epoch 2
    SCOPED_TRACE(stop);
    fs::remove_all(b.path());
    fs::create_directories(b.path());
    {
      TinyModel m(fixture().vocab.size(), 16);
      auto o = options(b.path());
      o.max_steps = stop;
      EXPECT_EQ(train::pretrain(m, store, nullptr, fixture().vocab, o).steps, stop);
    }
    {  // the interrupted run really is behind the full one
      auto wa = weights(a.path()), wpart = weights(b.path());
      EXPECT_FALSE(at::equal(wa[0].second, wpart[0].second));
    }
    {
      TinyModel fresh(fixture().vocab.size(), 16);  // a new process: weights come from the state file
      auto o = options(b.path());
      o.resume = true;
      EXPECT_EQ(train::pretrain(fresh, store, nullptr, fixture().vocab, o).steps, 10);
    }
    auto wa = weights(a.path()), wb = weights(b.path());
    ASSERT_EQ(wa.size(), wb.size());
    for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(at::equal(wa[i].second, wb[i].second)) << wa[i].first;
  }
}

// One rank of the data-parallel comparison (run by tests/train/main.cpp in a child process).
int run_train_child(const std::string& out_dir) {
  at::set_num_threads(1);
  auto env = train::dist_env_from_environment();
  std::unique_ptr<train::Distributed> dist;
  if (env.active()) dist = train::Distributed::init(env, std::chrono::milliseconds(60000));
  io::Vocab vocab = io::Vocab::load(std::string(std::getenv("SCFM_TEST_STORE")) + "/vocab.json");
  auto store = store::CellStore::open(std::getenv("SCFM_TEST_STORE"));
  TinyModel m(vocab.size(), 16);
  auto o = options(out_dir);
  o.batch.tokenizer.cls_id = vocab.cls_id();
  o.batch.tokenizer.pad_id = vocab.pad_id();
  o.max_steps = 4;
  o.loader_threads = 1;
  train::pretrain(m, store, nullptr, vocab, o, dist.get());
  return 0;
}

TEST(Trainer, TwoProcessesMatchOneProcessWithTheSameGlobalBatch) {
  if (!train::Distributed::available(false)) GTEST_SKIP() << "built without Gloo (e.g. against pip's CUDA LibTorch)";
  auto run = [&](int world, const std::string& out) {
    const int port = 21000 + (getpid() * 13 + world) % 20000;
    std::vector<pid_t> pids;
    for (int r = 0; r < world; ++r) {
      std::vector<std::string> env;
      for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
      for (std::string s : std::vector<std::string>{"SCFM_TEST_DIST_CHILD=train", "RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(world),
                            "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port), "SCFM_TEST_OUT=" + out,
                            "SCFM_TEST_STORE=" + fixture().store_path})
        env.push_back(s);
      std::vector<char*> envp;
      for (auto& s : env) envp.push_back(s.data());
      envp.push_back(nullptr);
      std::string self = "/proc/self/exe";
      char* argv[] = {self.data(), nullptr};
      pid_t pid;
      EXPECT_EQ(posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()), 0);
      pids.push_back(pid);
    }
    for (pid_t pid : pids) {
      int status = 0;
      waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
  };
  test::TempDir one, two;
  run(1, one.path());
  run(2, two.path());
  auto w1 = weights(one.path()), w2 = weights(two.path());
  ASSERT_EQ(w1.size(), w2.size());
  double max_diff = 0;
  for (size_t i = 0; i < w1.size(); ++i) max_diff = std::max(max_diff, (w1[i].second - w2[i].second).abs().max().item<double>());
  EXPECT_LT(max_diff, 1e-5);
  EXPECT_GT(w1[0].second.abs().sum().item<double>(), 0);
  std::cerr << "max |w(1 process) - w(2 processes)| after 4 steps: " << max_diff << "\n";
}

TEST(Trainer, NonFiniteGradientIsReportedAndStopsOrSkips) {
  // a NaN injected into one parameter's gradient at step 6 (the second epoch's first step, after
  // the epoch-end checkpoint), through the hook the trainer calls before applying gradients
  auto store = store::CellStore::open(fixture().store_path);
  auto poison = [](TinyModel& m, int64_t* calls) {
    return [&m, calls] {
      if (++*calls != 6) return;
      auto params = m.module().named_parameters();
      at::Tensor g = params["out.weight"].grad();
      g.view(-1)[0] = std::nan("");
    };
  };
  {
    test::TempDir out;
    TinyModel m(fixture().vocab.size(), 16);
    int64_t calls = 0;
    auto o = options(out.path());
    o.before_step = poison(m, &calls);
    try {
      train::pretrain(m, store, nullptr, fixture().vocab, o);
      FAIL() << "a NaN gradient must stop the run";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("step 6 (epoch 2): non-finite gradient of out.weight"), std::string::npos) << what;
    }
    // the checkpoint is the epoch-1 state, untouched: 5 steps, finite weights
    model::StateDict sd = model::load_state_dict(out / "train_state.pt");
    EXPECT_EQ(model::find(sd, "meta.step")->item<int64_t>(), 5);
    for (auto& [k, v] : sd)
      if (k.rfind("model.", 0) == 0) EXPECT_TRUE(at::isfinite(v).all().item<bool>()) << k;
    const std::string log = test::read_text(out / "metrics.jsonl");
    EXPECT_NE(log.find("\"kind\":\"nonfinite\""), std::string::npos);
    EXPECT_NE(log.find("\"what\":\"out.weight\""), std::string::npos);
  }
  {
    test::TempDir out;
    TinyModel m(fixture().vocab.size(), 16);
    int64_t calls = 0;
    auto o = options(out.path());
    o.before_step = poison(m, &calls);
    o.on_nonfinite = "skip";
    train::PretrainResult r = train::pretrain(m, store, nullptr, fixture().vocab, o);
    EXPECT_EQ(r.steps, 10);
    EXPECT_EQ(r.skipped_steps, 1);
    for (auto& [k, v] : weights(out.path())) EXPECT_TRUE(at::isfinite(v).all().item<bool>()) << k;
  }
}
