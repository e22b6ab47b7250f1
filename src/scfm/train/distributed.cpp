#include "scfm/train/distributed.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#ifdef SCFM_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SCFM_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>

#include <cstdlib>
#include <map>

#include "scfm/util/error.h"

namespace scfm::train {
namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw Error(std::string("environment variable ") + name + "='" + v + "': expected an integer in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  const char* ws = std::getenv("WORLD_SIZE");
  e.from_environment = ws != nullptr && *ws != '\0';
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, 1 << 20);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  return e;
}

// LibTorch 2.x split the backends (Gloo, NCCL) from the ProcessGroup front end; their common
// base with allreduce/broadcast/barrier is c10d::Backend there and c10d::ProcessGroup in 1.13.
#if TORCH_VERSION_MAJOR >= 2
using BackendBase = c10d::Backend;
#else
using BackendBase = c10d::ProcessGroup;
#endif

struct Distributed::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<BackendBase> pg;
  int rank = 0, world = 1;
  std::chrono::milliseconds timeout{0};
  // where the backend's collectives run: the CPU for Gloo, this rank's GPU for NCCL (which
  // reduces only CUDA tensors); tensors elsewhere are copied there and back.
  at::Device device{at::kCPU};

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      throw Error(std::string("distributed ") + what + " failed on rank " + std::to_string(rank) + " of " +
                  std::to_string(world) + " (a rank died or did not answer within " +
                  std::to_string(timeout.count() / 1000) + " s): " + e.what());
    }
  }
};

Distributed::Distributed() : impl_(std::make_unique<Impl>()) {}
Distributed::~Distributed() {
#if defined(SCFM_HAVE_NCCL) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4))
  // NCCL wants its communicators shut down before exit (torch.distributed.destroy_process_group)
  if (impl_ && impl_->pg && impl_->device.is_cuda()) {
    try {
      impl_->pg->shutdown();
    } catch (...) {
    }
  }
#endif
}

namespace {

[[maybe_unused]] c10::intrusive_ptr<c10d::Store> join_store(const DistEnv& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(env.master_port);
  opts.isServer = env.rank == 0;
  opts.numWorkers = static_cast<std::size_t>(env.world_size);
  opts.waitWorkers = true;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
}

// "<where> could not join the <what> at addr:port within N s: <reason>"
[[maybe_unused]] std::string join_failure(const std::string& where, const char* what, const DistEnv& env,
                         std::chrono::milliseconds timeout, const std::exception& e) {
  return where + " could not join the " + what + " at " + env.master_addr + ":" + std::to_string(env.master_port) +
         " within " + std::to_string(timeout.count() / 1000) + " s: " + e.what();
}

}  // namespace

std::unique_ptr<Distributed> Distributed::init(const DistEnv& env, std::chrono::milliseconds timeout, bool cuda) {
  std::unique_ptr<Distributed> d(new Distributed());
  Impl& m = *d->impl_;
  m.rank = env.rank;
  m.world = env.world_size;
  m.timeout = timeout;
  const std::string where = "distributed: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  if (cuda) {
#ifndef SCFM_HAVE_NCCL
    throw Error(where + ": this scfm was built without c10d's NCCL backend (a CPU LibTorch, or nccl.h / "
                "ProcessGroupNCCL.hpp not found at configure time); train on one GPU, or on CPUs with Gloo");
#else
    m.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    try {
      m.store = join_store(env, timeout);
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      m.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(m.store, env.rank, env.world_size, options);
    } catch (const std::exception& e) {
      throw Error(join_failure(where, "NCCL group", env, timeout, e));
    }
    return d;
#endif
  }
#ifndef SCFM_HAVE_GLOO
  throw Error(where + ": this scfm was built without c10d's Gloo backend (gloo headers missing); "
              "run one process, or rebuild with libgloo-dev installed");
#else
  try {
    m.store = join_store(env, timeout);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr == "localhost" ? "127.0.0.1" : env.master_addr));
    m.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(m.store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    throw Error(join_failure(where, "group", env, timeout, e));
  }
  return d;
#endif
}

bool Distributed::available(bool cuda) {
#ifdef SCFM_HAVE_NCCL
  if (cuda) return true;
#endif
#ifdef SCFM_HAVE_GLOO
  if (!cuda) return true;
#endif
  return false;
}

int Distributed::rank() const { return impl_->rank; }
int Distributed::world_size() const { return impl_->world; }

void Distributed::allreduce_sum(at::Tensor& tensor) {
  const bool moved = tensor.device() != impl_->device;
  std::vector<at::Tensor> t{moved ? tensor.to(impl_->device) : tensor};
  impl_->wait(impl_->pg->allreduce(t), "all-reduce");
  if (moved) tensor.copy_(t[0]);
}

void Distributed::allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  // bucket by dtype, in order, up to bucket_bytes each
  std::map<at::ScalarType, std::vector<std::vector<at::Tensor>>> buckets;
  std::map<at::ScalarType, int64_t> filled;
  for (const at::Tensor& t : tensors) {
    if (!t.defined()) continue;
    auto& list = buckets[t.scalar_type()];
    int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (list.empty() || filled[t.scalar_type()] + bytes > bucket_bytes) {
      list.emplace_back();
      filled[t.scalar_type()] = 0;
    }
    list.back().push_back(t);
    filled[t.scalar_type()] += bytes;
  }
  const double scale = 1.0 / impl_->world;
  for (auto& [type, list] : buckets) {
    for (auto& bucket : list) {
      std::vector<at::Tensor> flat_parts;
      for (auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
      at::Tensor flat = at::cat(flat_parts);
      allreduce_sum(flat);
      flat.mul_(scale);
      int64_t offset = 0;
      for (auto& t : bucket) {
        t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
        offset += t.numel();
      }
    }
  }
}

void Distributed::broadcast(at::Tensor& tensor, int root) {
  const bool moved = tensor.device() != impl_->device;
  std::vector<at::Tensor> t{moved ? tensor.to(impl_->device) : tensor};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->wait(impl_->pg->broadcast(t, o), "broadcast");
  if (moved) tensor.copy_(t[0]);
}

void Distributed::barrier() {
  if (impl_->device.is_cpu()) {
    impl_->wait(impl_->pg->barrier(), "barrier");
    return;
  }
  // NCCL's barrier guesses a device from the rank; a one-element all-reduce on this rank's GPU
  // synchronises the same way without guessing.
  at::Tensor t = at::ones({1}, at::TensorOptions().device(impl_->device));
  std::vector<at::Tensor> v{t};
  impl_->wait(impl_->pg->allreduce(v), "barrier");
  (void)t.item<float>();
}

at::Device Distributed::device() const { return impl_->device; }

}  // namespace scfm::train
