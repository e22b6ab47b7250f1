#include "scfm/runtime/threads.h"

#include <dlfcn.h>
#include <sched.h>

#include <string>
#include <thread>

#include <ATen/Parallel.h>

#include "scfm/util/error.h"

namespace scfm::runtime {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int set_threads(int n) {
  if (n < 0) throw Error("threads: expected 0 (all cores) or a positive count, got " + std::to_string(n));
  const int use = n == 0 ? available_cores() : n;
  at::set_num_threads(use);
  // at::set_num_threads sets OpenMP's count in an OpenMP build; set it directly too (and
  // OpenBLAS's own pool, which Debian's pthread libopenblas.so.0 keeps) so every pool agrees.
  using SetFn = void (*)(int);
  if (auto omp = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"))) omp(use);
  if (auto blas = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    blas(use);
  return use;
}

int num_threads() { return at::get_num_threads(); }

}  // namespace scfm::runtime
