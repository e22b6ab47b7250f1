// scfm pretrain / launch / embed end to end through the CLI, checked by python3-torch and
// python3-anndata: exact resume after SIGKILL, 2 processes == 1 process, deterministic embeddings.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <signal.h>
#include <thread>

#include "test_util.h"

using nlohmann::json;
using namespace scfm;
namespace fs = std::filesystem;

namespace {

struct Store {
  test::TempDir dir;
  std::string path;
  Store() {
    path = dir / "store";
    std::string h5ad = test::real_data("pbmc_small.h5ad");
    auto v = test::run_command(test::scfm_binary() + " vocab build " + h5ad + " --out " + (dir / "vocab.json"));
    auto i = test::run_command(test::scfm_binary() + " ingest " + h5ad + " --vocab " + (dir / "vocab.json") + " --out " + path);
    if (v.exit_code != 0 || i.exit_code != 0) throw std::runtime_error(v.output + i.output);
  }
};
Store& store() {
  static Store s;
  return s;
}

std::string pretrain_cmd(const std::string& out, const std::string& extra) {
  return test::scfm_binary() + " --threads 1 pretrain --store " + store().path + " --out " + out +
         " --model-structure transformer --batch-size 16 --nlayers 2 --nheads 2 --embsize 16 "
         "--dropout 0 --train-maxseq 64 --warmup-iters 5 --lr 1e-3 --log-interval 2 --use-mvc --loader-threads 1 " + extra;
}

// The same command with dropout 0.2: dropout masks are keyed by (seed, step, cell), so runs that
// split the same global batch differently must still agree (model/dropout.h).
std::string with_dropout(std::string cmd) {
  const std::string from = "--dropout 0 ";
  return cmd.replace(cmd.find(from), from.size(), "--dropout 0.2 ");
}

// max |a - b| over the model.* tensors of two train_state.pt files, by python3-torch. With
// key_bias false, the key third of attention in_proj_bias is left out: its gradient is exactly
// zero in exact arithmetic (softmax ignores a shift shared by all keys), so what it receives is
// float noise, which Adam scales up to steps of size ~lr whatever the noise's size; it differs
// between any two summation orders (docs/training.md).
double weight_diff(const std::string& a, const std::string& b, bool key_bias = true) {
  std::string py = "import torch; A=torch.load('" + a + "/train_state.pt', weights_only=True); B=torch.load('" + b +
                   "/train_state.pt', weights_only=True); ks=[k for k in A if k.startswith('model.')]; "
                   "assert ks and ks==[k for k in B if k.startswith('model.')]; "
                   "kb=" + std::string(key_bias ? "True" : "False") + "; "
                   "f=lambda k,t: t if kb or not k.endswith('in_proj_bias') else torch.cat([t[:t.numel()//3], t[2*t.numel()//3:]]); "
                   "print(max(float((f(k,A[k])-f(k,B[k])).abs().max()) for k in ks))";
  auto r = test::run_command(std::string(SCFM_PYTHON) + " -c \"" + py + "\" 2>&1");
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  return std::stod(r.output);
}

}  // namespace

TEST(CliPretrain, KilledRunResumesToTheSameWeights) {
  test::TempDir full, killed;
  auto r = test::run_command(with_dropout(pretrain_cmd(full.path(), "--epochs 2")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // start, wait until at least one training state exists, SIGKILL mid-run, resume
  std::string cmd = with_dropout(pretrain_cmd(killed.path(), "--epochs 2 --checkpoint-every 1")) + " > " + (killed / "log.txt") + " 2>&1 & echo $!";
  auto bg = test::run_command(cmd);
  const pid_t pid = std::stoi(bg.output);
  for (int i = 0; i < 400 && !fs::exists(killed / "train_state.pt"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(pid, SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // it really was stopped part-way (10 steps in all: 72 training cells, batches of 16, 2 epochs)
  auto step = test::run_command(std::string(SCFM_PYTHON) + " -c \"import torch; print(int(torch.load('" +
                                (killed / "train_state.pt") + "', weights_only=True)['meta.step']))\" 2>/dev/null");
  ASSERT_EQ(step.exit_code, 0) << step.output;
  EXPECT_LT(std::stoi(step.output), 10);
  // a kill during a checkpoint write leaves that write's temporary (train_state.pt itself is
  // complete: it loaded above); the resumed run removes it
  auto resumed = test::run_command(with_dropout(pretrain_cmd(killed.path(), "--epochs 2 --checkpoint-every 1 --resume")));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  for (auto& e : fs::directory_iterator(killed.path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "temporary left after resume: " << e.path();
  EXPECT_EQ(weight_diff(full.path(), killed.path()), 0.0);
  // the folder is a scGPT-style checkpoint folder that python3-torch reads
  auto keys = test::run_command(std::string(SCFM_PYTHON) + " -c \"import torch; sd=torch.load('" + (full / "best_model.pt") +
                                "', weights_only=True); print('encoder.layers.0.self_attn.in_proj_weight' in sd, len(sd))\"");
  EXPECT_EQ(keys.output.substr(0, 4), "True");
  json args = json::parse(test::read_text(full / "args.json"));
  EXPECT_EQ(args["model_structure"], "transformer");
  EXPECT_TRUE(fs::exists(full / "vocab.json"));
}

TEST(CliPretrain, LaunchTwoProcessesMatchesOneProcess) {
  test::TempDir one, two;
  auto r1 = test::run_command(with_dropout(pretrain_cmd(one.path(), "--epochs 2 --max-steps 4")));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const int port = 22000 + getpid() % 20000;
  auto r2 = test::run_command(test::scfm_binary() + " launch --nproc 2 --master-port " + std::to_string(port) + " -- " +
                              with_dropout(pretrain_cmd(two.path(), "--epochs 2 --max-steps 4")));
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_LT(weight_diff(one.path(), two.path(), /*key_bias=*/false), 1e-5);
  EXPECT_LE(weight_diff(one.path(), two.path()), 4 * 1e-3 * 1.01);  // the key bias: at most 4 Adam steps of lr
}

TEST(CliPretrain, GradientAccumulationMatchesTheBigBatch) {
  // 2 micro-batches of 8 cells per step == one step on the 16 cells (same cells, same masks,
  // same dropout masks).
  test::TempDir big, accu;
  auto r1 = test::run_command(with_dropout(pretrain_cmd(big.path(), "--epochs 2 --max-steps 4")));
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  std::string cmd = with_dropout(pretrain_cmd(accu.path(), "--epochs 2 --max-steps 4"));
  const std::string from = "--batch-size 16";
  cmd.replace(cmd.find(from), from.size(), "--batch-size 8 --grad-accu-steps 2");
  auto r2 = test::run_command(cmd);
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_LT(weight_diff(big.path(), accu.path(), /*key_bias=*/false), 1e-5);
  EXPECT_LE(weight_diff(big.path(), accu.path()), 4 * 1e-3 * 1.01);  // the key bias: at most 4 Adam steps of lr
  // and it is really accumulating: without it, 4 steps of 8 cells end elsewhere
  test::TempDir small;
  std::string cmd3 = with_dropout(pretrain_cmd(small.path(), "--epochs 2 --max-steps 4"));
  cmd3.replace(cmd3.find(from), from.size(), "--batch-size 8");
  ASSERT_EQ(test::run_command(cmd3).exit_code, 0);
  EXPECT_GT(weight_diff(big.path(), small.path(), false), 1e-4);
}

TEST(CliPretrain, LaunchStopsTheOthersWhenARankFails) {
  auto r = test::run_command(test::scfm_binary() + " launch --nproc 2 -- sh -c 'if [ \"$RANK\" = 1 ]; then exit 7; fi; exec sleep 60'");
  EXPECT_EQ(r.exit_code, 7) << r.output;
  EXPECT_NE(r.output.find("rank 1 exited with code 7"), std::string::npos) << r.output;
}

TEST(CliEmbed, DeterministicAcrossBatchSizesAndThreadsAndReadByAnndata) {
  test::TempDir run, out;
  auto r = test::run_command(pretrain_cmd(run.path(), "--epochs 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string in = test::real_data("pbmc_small.h5ad");
  auto e1 = test::run_command(test::scfm_binary() + " --threads 1 embed --model " + run.path() + " --in " + in + " --out " +
                              (out / "a.h5ad") + " --batch-size 1 --max-length 40");
  auto e2 = test::run_command(test::scfm_binary() + " --threads 2 embed --model " + run.path() + " --in " + in + " --out " +
                              (out / "b.h5ad") + " --batch-size 64 --max-length 40");
  ASSERT_EQ(e1.exit_code, 0) << e1.output;
  ASSERT_EQ(e2.exit_code, 0) << e2.output;
  std::string py = "import anndata, numpy as np; a=anndata.read_h5ad('" + (out / "a.h5ad") + "'); b=anndata.read_h5ad('" +
                   (out / "b.h5ad") + "'); x=a.obsm['X_scfm']; y=b.obsm['X_scfm']; c=anndata.read_h5ad('" + in +
                   "'); print(x.dtype, x.shape[0]==c.n_obs, float(np.abs(x-y).max()) <= 1e-5, float(np.abs(x).max()) > 0, "
                   "(a.X != c.X).nnz, a.uns['scfm_embed_X_scfm']['gene_selection'])";
  auto check = test::run_command(std::string(SCFM_PYTHON) + " -c \"" + py + "\" 2>/dev/null");
  EXPECT_EQ(check.output, "float32 True True True 0 top_expressed\n");
}
