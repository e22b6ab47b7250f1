// Loading a torch.save state dict into a LibTorch module by name.
//
// Names are the module's registered names joined by "." (named_parameters() and named_buffers(),
// recursively), which for scBenchmark's modules are exactly the PyTorch originals' state_dict()
// keys. Every entry is checked before anything is copied, so a failed load leaves the module as
// it was. Values are copied into the module's own tensors (their dtype and device win).
#pragma once

#include <string>
#include <vector>

#include "scfm/model/checkpoint.h"

namespace torch::nn {
class Module;
}

namespace scfm::model::scbench {

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the state dict
  std::vector<std::string> unexpected;  // in the state dict, not in the module
  std::vector<std::string> mismatched;  // in both, different shapes: "name: expected [..], got [..]"
  int64_t loaded = 0;                   // tensors copied
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // One line per problem, every key named.
  std::string describe() const;
};

// Copies `state` into `module`'s parameters and buffers by name.
// Throws scfm::Error whose message lists EVERY problem (`source` names the file) when a shape
// differs, when a key repeats in `state`, or, with `strict`, when any key is missing or
// unexpected. Without `strict`, missing and unexpected keys are returned in the report (nothing
// is dropped silently: the caller decides) and the matching tensors are copied.
LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict = true,
                           const std::string& source = "state dict");

}  // namespace scfm::model::scbench
