#include "scfm/train/distributed.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>
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
#include <mutex>

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
  // collectives started and not yet waited for: the work, the tensor and (when it had to move to
  // `device`) its copy there
  struct Pending {
    c10::intrusive_ptr<c10d::Work> work;
    at::Tensor target, moved;
  };
  std::mutex pending_mutex;
  std::vector<Pending> pending;

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

void Distributed::allreduce_sum_start(const at::Tensor& tensor) {
  Impl::Pending p;
  p.target = tensor;
  std::vector<at::Tensor> t{tensor.device() != impl_->device ? tensor.to(impl_->device) : tensor};
  if (tensor.device() != impl_->device) p.moved = t[0];
  std::lock_guard<std::mutex> lock(impl_->pending_mutex);
  p.work = impl_->pg->allreduce(t);
  impl_->pending.push_back(std::move(p));
}

void Distributed::wait_all() {
  std::vector<Impl::Pending> pending;
  {
    std::lock_guard<std::mutex> lock(impl_->pending_mutex);
    pending.swap(impl_->pending);
  }
  for (auto& p : pending) {
    impl_->wait(p.work, "all-reduce");
    if (p.moved.defined()) p.target.copy_(p.moved);
  }
}

namespace {

// Consecutive runs of `order` (indices into `tensors`) of one dtype and device and at most
// `bucket_bytes` each (a larger tensor alone): the buckets allreduce_mean and GradientReducer
// each reduce as one flat tensor.
std::vector<std::vector<size_t>> make_buckets(const std::vector<at::Tensor>& tensors, const std::vector<size_t>& order,
                                              int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t k : order) {
    const at::Tensor& t = tensors[k];
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    const at::Tensor* last = buckets.empty() ? nullptr : &tensors[buckets.back().front()];
    if (!last || filled + bytes > bucket_bytes || last->scalar_type() != t.scalar_type() || last->device() != t.device()) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(k);
    filled += bytes;
  }
  return buckets;
}

}  // namespace

void Distributed::allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<size_t> order;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].defined()) order.push_back(i);
  const std::vector<std::vector<size_t>> buckets = make_buckets(tensors, order, bucket_bytes);
  std::vector<at::Tensor> flats;
  for (const auto& bucket : buckets) {
    std::vector<at::Tensor> parts;
    for (size_t i : bucket) parts.push_back(tensors[i].reshape({-1}));
    flats.push_back(at::cat(parts));
    allreduce_sum_start(flats.back());
  }
  wait_all();
  const double scale = 1.0 / impl_->world;
  for (size_t b = 0; b < buckets.size(); ++b) {
    flats[b].mul_(scale);
    int64_t offset = 0;
    for (size_t i : buckets[b]) {
      at::Tensor t = tensors[i];
      t.copy_(flats[b].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
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

// ----------------------------------------------------------------------------------------------
struct GradientReducer::Impl {
  struct Bucket {
    at::Tensor flat;
    std::vector<size_t> params;  // indices into `params`
    int64_t waiting = 0;         // parameters not yet written this backward
  };
  Distributed* dist = nullptr;
  std::vector<at::Tensor> params;
  std::vector<std::pair<size_t, int64_t>> place;  // per parameter: bucket, offset
  std::vector<Bucket> buckets;
  std::vector<char> written;  // per parameter, this backward
  std::vector<char> absent;   // per parameter: no gradient at all this step (left undefined)
  std::vector<unsigned> hooks;
  std::mutex mutex;
  bool armed = false;
  size_t next_start = 0;  // buckets start in index order
  size_t started_early = 0;

  int64_t bucket_bytes = 0;
  std::vector<size_t> arrivals;  // parameters in the order their gradients came, first step
  bool rebuilt = false;

  // The buckets of make_buckets over `order`, each parameter's place (in elements) in its flat tensor.
  void build(const std::vector<size_t>& order) {
    buckets.clear();
    for (std::vector<size_t>& members : make_buckets(params, order, bucket_bytes)) {
      int64_t n = 0;
      for (size_t k : members) {
        place[k] = {buckets.size(), n};
        n += params[k].numel();
      }
      Bucket b;
      b.flat = at::zeros({n}, params[members.front()].options());
      b.params = std::move(members);
      buckets.push_back(std::move(b));
    }
  }

  at::Tensor slot(size_t i) {
    const auto [b, offset] = place[i];
    return buckets[b].flat.narrow(0, offset, params[i].numel()).view_as(params[i]);
  }
  // called with `mutex` held
  void start_ready() {
    while (next_start < buckets.size() && buckets[next_start].waiting == 0) dist->allreduce_sum_start(buckets[next_start++].flat);
  }
  void on_gradient(size_t i, const at::Tensor& incoming) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || written[i]) return;
    at::Tensor s = slot(i);
    const at::Tensor& current = params[i].grad();
    if (current.defined()) {
      s.copy_(current);
      s.add_(incoming);  // what AccumulateGrad stores: .grad += incoming
    } else if (incoming.is_sparse()) {
      s.zero_();
      s.add_(incoming);
    } else {
      s.copy_(incoming);
    }
    written[i] = 1;
    if (!rebuilt) arrivals.push_back(i);
    if (--buckets[place[i].first].waiting == 0) start_ready();
  }
};

GradientReducer::GradientReducer(Distributed& dist, const std::vector<at::Tensor>& params, int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.dist = &dist;
  for (const at::Tensor& p : params)
    if (p.requires_grad()) m.params.push_back(p);
  m.bucket_bytes = bucket_bytes;
  m.place.resize(m.params.size());
  m.written.assign(m.params.size(), 0);
  m.absent.assign(m.params.size(), 0);
  std::vector<size_t> order(m.params.size());  // reverse: backward produces the last layers' gradients first
  for (size_t k = 0; k < order.size(); ++k) order[k] = order.size() - 1 - k;
  m.build(order);
  for (size_t i = 0; i < m.params.size(); ++i)
    m.hooks.push_back(m.params[i].register_hook([impl = impl_.get(), i](const at::Tensor& g) { impl->on_gradient(i, g); }));
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < impl_->params.size(); ++i) impl_->params[i].remove_hook(impl_->hooks[i]);
}

void GradientReducer::arm() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->armed = true;
  impl_->next_start = 0;
  std::fill(impl_->written.begin(), impl_->written.end(), 0);
  std::fill(impl_->absent.begin(), impl_->absent.end(), 0);
  for (auto& b : impl_->buckets) b.waiting = static_cast<int64_t>(b.params.size());
}

void GradientReducer::finish() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    if (!m.armed) return;
    m.armed = false;
    m.started_early = m.next_start;
    for (size_t i = 0; i < m.params.size(); ++i) {
      if (m.written[i]) continue;  // parameters without a gradient this backward: what they have
      const at::Tensor& g = m.params[i].grad();
      if (g.defined()) {
        m.slot(i).copy_(g);
      } else {
        m.slot(i).zero_();  // what the other ranks add to (they have none either, in practice)
        m.absent[i] = 1;
      }
      m.written[i] = 1;
      --m.buckets[m.place[i].first].waiting;
    }
    m.start_ready();
  }
  m.dist->wait_all();
  c10::NoGradGuard no_grad;
  for (size_t i = 0; i < m.params.size(); ++i) {
    if (m.absent[i]) continue;  // stays without a gradient (Adam skips it), as without ranks
    at::Tensor& g = m.params[i].mutable_grad();
    if (g.defined() && !g.is_sparse())
      g.copy_(m.slot(i));
    else
      g = m.slot(i).clone();
  }
  if (!m.rebuilt) {
    // As DDP does after its first iteration: buckets in the order the gradients arrived, the
    // parameters that got none (e.g. registered but unused layers) last, so that none of them
    // holds back a bucket that could start. Rank 0's order for all: the layouts must agree.
    std::vector<char> seen(m.params.size(), 0);
    std::vector<int64_t> order;
    for (size_t i : m.arrivals) {
      order.push_back(static_cast<int64_t>(i));
      seen[i] = 1;
    }
    for (size_t k = m.params.size(); k-- > 0;)
      if (!seen[k]) order.push_back(static_cast<int64_t>(k));
    at::Tensor t = at::empty({static_cast<int64_t>(order.size())}, at::kLong);
    std::copy(order.begin(), order.end(), t.data_ptr<int64_t>());
    m.dist->broadcast(t, 0);
    std::vector<size_t> agreed(order.size());
    for (size_t k = 0; k < agreed.size(); ++k) agreed[k] = static_cast<size_t>(t[static_cast<int64_t>(k)].item<int64_t>());
    m.build(agreed);
    m.rebuilt = true;
    m.arrivals.clear();
  }
}

int64_t GradientReducer::bucket_count() const { return static_cast<int64_t>(impl_->buckets.size()); }
int64_t GradientReducer::started_early() const { return static_cast<int64_t>(impl_->started_early); }

}  // namespace scfm::train
