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
  bool active() const { return world_size > 1; }
};

// Reads the torchrun variables; absent WORLD_SIZE means one process. Malformed values are an
// scfm::Error naming the variable.
DistEnv dist_env_from_environment();

class Distributed {
 public:
  // Joins the group (blocking until all ranks arrive or the timeout passes). `cuda`: NCCL.
  static std::unique_ptr<Distributed> init(const DistEnv& env, std::chrono::milliseconds timeout, bool cuda = false);
  ~Distributed();

  int rank() const;
  int world_size() const;
  // Sums every tensor across ranks and divides by world_size, in place. Tensors are packed into
  // buckets of about `bucket_bytes` per dtype so that few collectives are issued.
  void allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  void allreduce_sum(at::Tensor& tensor);
  void broadcast(at::Tensor& tensor, int root = 0);
  void barrier();

 private:
  Distributed();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scfm::train
