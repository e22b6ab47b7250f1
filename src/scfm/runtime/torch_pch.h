// Precompiled header of target scfm: the few LibTorch headers runtime/ uses (not
// <torch/torch.h>, which costs ~20 s per file), plus nlohmann/json. Add a header here only when
// a .cpp of this target includes it.
#pragma once

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>
