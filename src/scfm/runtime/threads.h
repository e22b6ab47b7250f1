// How many threads LibTorch (its OpenMP pool) and the BLAS it calls use.
// No LibTorch headers here: cli/ and io/ include this file.
#pragma once

namespace scfm::runtime {

// CPUs this process may run on: the size of its affinity mask (taskset, cgroup cpusets), else
// std::thread::hardware_concurrency(), and at least 1.
int available_cores();

// Sets the intra-op thread count of LibTorch (at::set_num_threads, which also sets OpenMP's) and
// of OpenBLAS (openblas_set_num_threads, when loaded) to n, or to available_cores() when n == 0.
// Returns the number set; afterwards num_threads() returns it. Throws scfm::Error when n < 0.
int set_threads(int n);

// LibTorch's current intra-op thread count (at::get_num_threads()).
int num_threads();

// Runs a scope on one LibTorch/OpenMP/OpenBLAS thread and restores the count after: for small
// products (classify's linear probe: each OpenMP region costs a barrier that, on a loaded machine,
// waits for a descheduled thread) and LAPACK's eigh (thousands of small BLAS-2 calls).
class OneThread {
 public:
  OneThread() : previous_(runtime::num_threads()) {
    if (previous_ != 1) runtime::set_threads(1);
  }
  ~OneThread() {
    if (previous_ != 1) runtime::set_threads(previous_);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int previous_;
};

}  // namespace scfm::runtime
