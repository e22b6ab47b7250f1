// Data parallelism through LibTorch's own c10d: Gloo on CPU, NCCL on CUDA builds that have it.
//
// Ranks meet the torchrun way: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT in the
// environment; rank 0 hosts the TCPStore. No networking of scfm's own.
//
// Failure: every collective and the rendezvous run under `timeout`; a rank that dies makes the
// others throw scfm::Error from the next collective within that timeout ("rank N did not answer
// ..."), never hang. Collectives are blocking and must be called by all ranks in the same order.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace scfm::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool from_environment = false;  // WORLD_SIZE was set (torchrun / scfm launch, even with 1 rank)
  // A group is joined when the launcher set WORLD_SIZE, as torch.distributed does under torchrun
  // (one rank included, so that a 1-GPU NCCL run takes the same path as N).
  bool active() const { return from_environment; }
};

// Reads the torchrun variables; absent WORLD_SIZE means one process. Malformed values are an
// scfm::Error naming the variable.
DistEnv dist_env_from_environment();

class Distributed {
 public:
  // Joins the group (blocking until all ranks arrive or the timeout passes). `cuda`: NCCL on
  // GPU local_rank (CUDA builds whose LibTorch has it), else Gloo.
  static std::unique_ptr<Distributed> init(const DistEnv& env, std::chrono::milliseconds timeout, bool cuda = false);
  ~Distributed();
  // Whether this build has the backend init(cuda) would use (Gloo: libgloo-dev headers at
  // configure time; NCCL: a CUDA LibTorch with ProcessGroupNCCL and nccl.h).
  static bool available(bool cuda);

  int rank() const;
  int world_size() const;
  // Sums every tensor across ranks and divides by world_size, in place. Tensors are packed into
  // buckets of about `bucket_bytes` per dtype and device (as GradientReducer's) so that few
  // collectives are issued; the buckets' collectives run concurrently.
  void allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  void allreduce_sum(at::Tensor& tensor);
  // Starts summing `tensor` across ranks in place and returns at once (Gloo and NCCL run it on
  // their own threads / streams); wait_all() waits for every started one. Thread-safe; every rank
  // must start the same collectives in the same order.
  void allreduce_sum_start(const at::Tensor& tensor);
  void wait_all();
  void broadcast(at::Tensor& tensor, int root = 0);
  void barrier();
  // Where collectives run (CPU for Gloo, cuda:local_rank for NCCL). Tensors on another device
  // are copied there and back by each call.
  at::Device device() const;

 private:
  Distributed();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Sums the parameters' gradients across ranks while backward runs, as DDP's reducer does, on the
// hook API that LibTorch 1.13 and 2.x share. Parameters go into buckets of about `bucket_bytes`
// (per dtype and device) in reverse order, and after the first reduced backward, as DDP does, in
// the order their gradients arrived there (rank 0's order, broadcast), parameters that got none
// last, so that an unused layer does not hold back the buckets after it.
// While armed, a parameter's hook (called when this backward's gradient for it is ready, before it
// is accumulated) writes .grad + incoming into its place in the bucket: what accumulation is
// about to store, by the same addition. A bucket whose parameters are all in is all-reduced at
// once, asynchronously, overlapping the rest of backward; buckets are started in index order on
// every rank, as collectives must be. finish() starts the buckets of parameters that got no
// gradient this time (their current .grad, or zeros), waits, and writes the sums into .grad.
// Arm it for the last backward of a step (earlier micro-batches accumulate locally).
class GradientReducer {
 public:
  GradientReducer(Distributed& dist, const std::vector<at::Tensor>& params, int64_t bucket_bytes = 25 << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;
  void arm();
  void finish();
  int64_t bucket_count() const;
  // Buckets whose all-reduce had started before the last finish(), i.e. during backward.
  int64_t started_early() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::train
