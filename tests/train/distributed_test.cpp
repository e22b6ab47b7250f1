// c10d through Gloo: real processes on loopback, launched as torchrun would (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT).
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/sin.h>
#include <ATen/ops/tanh.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cmath>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "scfm/train/distributed.h"
#include "scfm/util/error.h"
#include "test_util.h"

extern char** environ;
using namespace scfm;

namespace {

int free_port() {
  // a port unlikely to clash between concurrent test runs
  return 20000 + (getpid() * 7 + static_cast<int>(std::chrono::steady_clock::now().time_since_epoch().count() % 997)) % 20000;
}

// Starts `world` copies of this test binary as ranks of `scenario`; returns their exit codes.
std::vector<int> run_ranks(const std::string& scenario, int world, const std::string& out_dir) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.push_back("SCFM_TEST_DIST_CHILD=" + scenario);
    env_strings.push_back("RANK=" + std::to_string(r));
    env_strings.push_back("LOCAL_RANK=" + std::to_string(r));
    env_strings.push_back("WORLD_SIZE=" + std::to_string(world));
    env_strings.push_back("MASTER_ADDR=127.0.0.1");
    env_strings.push_back("MASTER_PORT=" + std::to_string(port));
    env_strings.push_back("SCFM_TEST_OUT=" + out_dir);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string self = "/proc/self/exe";
    char* argv[] = {self.data(), nullptr};
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()) != 0) return {};
    pids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

}  // namespace

// A small net for the reducer scenario: the same initial weights in every process; rank r's
// micro-batch m has its own inputs; `unused` never gets a gradient.
struct ReducerNet {
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr};
  ReducerNet() {
    torch::manual_seed(0);
    a = torch::nn::Linear(4, 8);
    b = torch::nn::Linear(8, 3);
    unused = torch::nn::Linear(2, 2);
  }
  std::vector<at::Tensor> params() const { return {a->weight, a->bias, b->weight, b->bias, unused->weight, unused->bias}; }
  at::Tensor loss(int rank, int micro) {
    const at::Tensor x = at::sin(at::arange(20, at::kFloat).view({5, 4}) * (1.0 + rank + 2.0 * micro));
    return b(at::tanh(a(x))).square().sum();
  }
};

// The child side: one rank of a scenario. Writes what it saw to $SCFM_TEST_OUT/rank<r>.txt.
int run_train_child(const std::string& out_dir);

int run_dist_child(const char* scenario) {
  const std::string name = scenario;
  if (name == "train") {
    try {
      return run_train_child(std::getenv("SCFM_TEST_OUT"));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "train child: %s\n", e.what());
      return 2;
    }
  }
  train::DistEnv env = train::dist_env_from_environment();
  std::ofstream out(std::string(std::getenv("SCFM_TEST_OUT")) + "/rank" + std::to_string(env.rank) + ".txt");
  try {
    const bool nccl = name == "mean_nccl";
    auto dist = train::Distributed::init(env, std::chrono::milliseconds(name == "dead_rank" ? 4000 : 30000), nccl);
    if (name == "mean" || nccl) {
      // rank r holds r+1 everywhere; the mean over W ranks is (W+1)/2. With NCCL one tensor sits on
      // this rank's GPU and the others on the CPU (copied to the GPU and back by Distributed).
      std::vector<at::Tensor> ts{at::full({3, 4}, env.rank + 1.0, at::kFloat), at::full({5}, env.rank + 1.0, at::kFloat),
                                 at::full({2}, env.rank + 1.0, at::kDouble)};
      if (nccl) {
        if (dist->device() != at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank))) return 5;
        ts[1] = ts[1].to(dist->device());
      }
      dist->allreduce_mean(ts, /*bucket_bytes=*/16);  // small buckets: several collectives
      double s = 0;
      for (auto& t : ts) s += t.sum().item<double>();
      out << s << "\n";
      at::Tensor b = at::arange(4, at::kFloat).add(env.rank * 10);
      dist->broadcast(b, 0);
      out << b.sum().item<double>() << "\n";
      dist->barrier();
      return 0;
    }
    if (name == "reducer") {
      // two micro-batches, the second reduced while its backward runs, in 64-byte buckets
      ReducerNet net;
      train::GradientReducer reducer(*dist, net.params(), /*bucket_bytes=*/64);
      // step 1: buckets in reverse parameter order (the unused layer's first: nothing starts
      // early); step 2: rebuilt in arrival order, unused last
      int64_t first_early = -1;
      for (int step = 0; step < 2; ++step) {
        for (const at::Tensor& p : net.params())
          if (p.grad().defined()) p.grad().zero_();
        net.loss(env.rank, 0).backward();
        reducer.arm();
        net.loss(env.rank, 1).backward();
        reducer.finish();
        if (step == 0) first_early = reducer.started_early();
      }
      out << reducer.bucket_count() << " " << first_early << " " << reducer.started_early() << "\n";
      out.precision(17);
      for (const at::Tensor& p : net.params()) {
        out << p.grad().defined() << " ";
        if (p.grad().defined())
          for (int64_t i = 0; i < p.numel(); ++i) out << p.grad().reshape({-1})[i].item<double>() << " ";
        out << "\n";
      }
      return 0;
    }
    if (name == "dead_rank") {
      if (env.rank == 1) std::_Exit(3);  // dies without a word
      at::Tensor t = at::ones({8});
      auto start = std::chrono::steady_clock::now();
      try {
        dist->allreduce_sum(t);
        out << "no error\n";
        return 1;
      } catch (const Error& e) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        out << "error after " << secs << " s: " << e.what() << "\n";
        return 0;
      }
    }
  } catch (const std::exception& e) {
    out << "exception: " << e.what() << "\n";
    return 2;
  }
  return 4;
}

// NCCL on the GPUs this machine has (1 rank per GPU, at most 2); skipped on CPU LibTorch builds.
TEST(Distributed, NcclRanksOnGpus) {
  if (!at::hasCUDA() || !train::Distributed::available(true)) GTEST_SKIP() << "this LibTorch has no CUDA / NCCL";
  const int world = std::min(2, static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()));
  test::TempDir dir;
  auto codes = run_ranks("mean_nccl", world, dir.path());
  ASSERT_EQ(codes, std::vector<int>(static_cast<size_t>(world), 0)) << test::read_text(dir / "rank0.txt");
  for (int r = 0; r < world; ++r) {
    std::ifstream in(dir / ("rank" + std::to_string(r) + ".txt"));
    double mean_sum = 0, bcast_sum = 0;
    in >> mean_sum >> bcast_sum;
    EXPECT_DOUBLE_EQ(mean_sum, (world + 1) / 2.0 * (12 + 5 + 2)) << "rank " << r;
    EXPECT_DOUBLE_EQ(bcast_sum, 0 + 1 + 2 + 3) << "rank " << r;
  }
}

TEST(Distributed, TwoRanksAllReduceMeanAndBroadcast) {
  if (!train::Distributed::available(false)) GTEST_SKIP() << "built without Gloo (e.g. against pip's CUDA LibTorch)";
  test::TempDir dir;
  auto codes = run_ranks("mean", 2, dir.path());
  ASSERT_EQ(codes, (std::vector<int>{0, 0})) << test::read_text(dir / "rank0.txt") << test::read_text(dir / "rank1.txt");
  for (int r = 0; r < 2; ++r) {
    std::ifstream in(dir / ("rank" + std::to_string(r) + ".txt"));
    double mean_sum = 0, bcast_sum = 0;
    in >> mean_sum >> bcast_sum;
    EXPECT_DOUBLE_EQ(mean_sum, 1.5 * (12 + 5 + 2)) << "rank " << r;
    EXPECT_DOUBLE_EQ(bcast_sum, 0 + 1 + 2 + 3) << "rank " << r;  // rank 0's tensor everywhere
  }
}

// GradientReducer: every rank ends with the sum over ranks and micro-batches of the gradients
// (what one process accumulating all four micro-batches gets), several buckets, and a parameter
// that got no gradient stays without one.
TEST(Distributed, ReducerSumsGradientsWhileBackwardRuns) {
  if (!train::Distributed::available(false)) GTEST_SKIP() << "built without Gloo (e.g. against pip's CUDA LibTorch)";
  test::TempDir dir;
  auto codes = run_ranks("reducer", 2, dir.path());
  ASSERT_EQ(codes, (std::vector<int>{0, 0})) << test::read_text(dir / "rank0.txt") << test::read_text(dir / "rank1.txt");
  ReducerNet net;
  for (int r = 0; r < 2; ++r)
    for (int m = 0; m < 2; ++m) net.loss(r, m).backward();
  for (int r = 0; r < 2; ++r) {
    std::ifstream in(dir / ("rank" + std::to_string(r) + ".txt"));
    int64_t buckets = 0, first_early = -1, early = -1;
    in >> buckets >> first_early >> early;
    EXPECT_GT(buckets, 2) << "rank " << r;
    EXPECT_EQ(first_early, 0) << "rank " << r;  // the unused layer shared the first bucket
    // after the rebuild every bucket but the unused layer's started during backward
    EXPECT_EQ(early, buckets - 1) << "rank " << r;
    for (const at::Tensor& p : net.params()) {
      int defined = -1;
      in >> defined;
      ASSERT_EQ(defined, p.grad().defined() ? 1 : 0) << "rank " << r;
      if (!defined) continue;
      const at::Tensor expect = p.grad().reshape({-1});
      for (int64_t i = 0; i < p.numel(); ++i) {
        double v = 0;
        in >> v;
        EXPECT_NEAR(v, expect[i].item<double>(), 1e-5 * (1 + std::abs(expect[i].item<double>()))) << "rank " << r << " element " << i;
      }
    }
  }
}

TEST(Distributed, ADeadRankMakesTheOthersFailWithinTheTimeout) {
  if (!train::Distributed::available(false)) GTEST_SKIP() << "built without Gloo (e.g. against pip's CUDA LibTorch)";
  test::TempDir dir;
  auto start = std::chrono::steady_clock::now();
  auto codes = run_ranks("dead_rank", 2, dir.path());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string rank0 = test::read_text(dir / "rank0.txt");
  EXPECT_EQ(codes[0], 0) << rank0;
  EXPECT_EQ(codes[1], 3);
  EXPECT_NE(rank0.find("error after"), std::string::npos) << rank0;
  EXPECT_NE(rank0.find("rank 0 of 2"), std::string::npos) << rank0;
  EXPECT_LT(secs, 30.0) << "ranks must not hang";
}

TEST(Distributed, EnvironmentIsValidated) {
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "5", 1);
  EXPECT_THROW(train::dist_env_from_environment(), Error);
  setenv("RANK", "1", 1);
  setenv("MASTER_PORT", "http", 1);
  try {
    train::dist_env_from_environment();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_PORT"), std::string::npos);
  }
  unsetenv("WORLD_SIZE");
  unsetenv("RANK");
  unsetenv("MASTER_PORT");
  auto env = train::dist_env_from_environment();
  EXPECT_EQ(env.world_size, 1);
  EXPECT_FALSE(env.active());
  // torchrun with one rank sets WORLD_SIZE=1: the group is joined (a 1-GPU NCCL run takes the
  // path N GPUs take)
  setenv("WORLD_SIZE", "1", 1);
  env = train::dist_env_from_environment();
  unsetenv("WORLD_SIZE");
  EXPECT_EQ(env.world_size, 1);
  EXPECT_TRUE(env.active());
}
