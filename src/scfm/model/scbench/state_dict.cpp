#include "scfm/model/scbench/state_dict.h"

#include <c10/core/GradMode.h>
#include <torch/nn/module.h>

#include <map>
#include <set>
#include <sstream>

#include "scfm/util/error.h"

namespace scfm::model::scbench {

namespace {

std::string shape_str(c10::IntArrayRef sizes) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < sizes.size(); ++i) s << (i ? ", " : "") << sizes[i];
  s << "]";
  return s.str();
}

}  // namespace

std::string LoadReport::describe() const {
  std::ostringstream s;
  for (const auto& k : missing) s << "\n  missing key: " << k;
  for (const auto& k : unexpected) s << "\n  unexpected key: " << k;
  for (const auto& k : mismatched) s << (k.find(": expected dtype ") != std::string::npos ? "\n  dtype mismatch: " : "\n  shape mismatch: ") << k;
  return s.str();
}

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& state, bool strict,
                           const std::string& source) {
  // The module's tensors, in registration order.
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (p.value().defined()) targets.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true))
    if (b.value().defined()) targets.emplace_back(b.key(), b.value());

  std::map<std::string, const at::Tensor*> by_name;
  std::vector<std::string> duplicates;
  for (const auto& [name, tensor] : state)
    if (!by_name.emplace(name, &tensor).second) duplicates.push_back(name);

  LoadReport report;
  std::set<std::string> known;
  std::vector<std::pair<at::Tensor, const at::Tensor*>> copies;
  for (const auto& [name, target] : targets) {
    known.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      report.missing.push_back(name);
      continue;
    }
    const at::Tensor& src = *it->second;
    if (!src.defined() || src.sizes() != target.sizes()) {
      report.mismatched.push_back(name + ": expected " + shape_str(target.sizes()) + ", got " +
                                  (src.defined() ? shape_str(src.sizes()) : std::string("an undefined tensor")));
      continue;
    }
    // floating weights take any floating dtype (converted, as PyTorch does); integers or bools
    // in a floating parameter (or the reverse) are a different kind of data, not a precision
    if (at::isFloatingType(src.scalar_type()) != at::isFloatingType(target.scalar_type())) {
      report.mismatched.push_back(name + ": expected dtype " + std::string(c10::toString(target.scalar_type())) +
                                  ", got " + c10::toString(src.scalar_type()));
      continue;
    }
    copies.emplace_back(target, &src);
  }
  for (const auto& [name, tensor] : state)
    if (!known.count(name)) report.unexpected.push_back(name);

  const bool fail = !report.mismatched.empty() || !duplicates.empty() ||
                    (strict && (!report.missing.empty() || !report.unexpected.empty()));
  if (fail) {
    std::ostringstream msg;
    msg << source << ": cannot load into " << module.name() << " ("
        << report.missing.size() << " missing, " << report.unexpected.size() << " unexpected, "
        << report.mismatched.size() << " shape/dtype mismatches";
    if (!duplicates.empty()) msg << ", " << duplicates.size() << " repeated";
    msg << ")" << report.describe();
    for (const auto& d : duplicates) msg << "\n  repeated key: " << d;
    throw Error(msg.str());
  }

  c10::AutoGradMode no_grad(false);
  for (auto& [target, src] : copies) {
    at::Tensor t = target;  // shares the module's storage
    t.copy_(*src);
  }
  report.loaded = static_cast<int64_t>(copies.size());
  return report;
}

}  // namespace scfm::model::scbench
