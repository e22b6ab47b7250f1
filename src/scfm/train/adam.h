// Adam's step as torch::optim::Adam takes it, in one pass over each parameter.
//
// LibTorch's Adam::step runs five tensor operations per parameter (two moment updates, sqrt,
// divide, addcdiv) and allocates the denominator: about eight passes over every parameter, the
// 60,697 x 256 gene embedding included, each step. adam_step does the same arithmetic element by
// element in one pass for float32 CPU parameters (vectorised; threads over elements) and leaves
// everything else (other devices and dtypes, weight decay, amsgrad) to Adam::step. The state is
// the optimiser's own (AdamParamState: step, exp_avg, exp_avg_sq, under LibTorch's key), so
// saving, loading and resuming see no difference. Results equal Adam::step's to float rounding
// (tests/train/adam_test.cpp).
#pragma once

#include <torch/optim/adam.h>
#include <torch/version.h>

#include <string>

namespace scfm::train {

void adam_step(torch::optim::Adam& optimizer);

// The key LibTorch files a parameter's optimiser state under: the TensorImpl's address, as a
// string in 1.x and as the pointer itself in 2.x.
#if TORCH_VERSION_MAJOR >= 2
inline void* adam_state_key(const at::Tensor& p) { return p.unsafeGetTensorImpl(); }
#else
inline std::string adam_state_key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }
#endif

}  // namespace scfm::train
