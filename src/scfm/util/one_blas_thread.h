// Runs the BLAS calls of its scope on one thread. OpenBLAS's OpenMP build takes its thread count
// from omp_get_max_threads() at each call, and inside a parallel region that is still the outer
// count (GNU OpenMP): OpenBLAS then splits a product into that many parts and runs them one after
// the other, giving the bits of a threaded product. A product's last bits can follow the thread
// count (docs/blas.md), so code whose results must not follow --threads runs its products inside
// this guard, spreading its own work over threads instead. The count is the calling thread's
// OpenMP setting (an implicit task's own inside a parallel region), restored at the end.
#pragma once

#include <omp.h>

namespace scfm::util {

class OneBlasThread {
 public:
  OneBlasThread() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~OneBlasThread() { omp_set_num_threads(previous_); }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int previous_;
};

}  // namespace scfm::util
