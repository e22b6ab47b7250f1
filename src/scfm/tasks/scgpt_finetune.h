// What scGPT's fine-tunes (integrate, perturb finetune) share: the checkpoint folder check, the
// keyed epoch order and the tutorials' StepLR schedule.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace scfm::tasks {

// args.json of a scGPT checkpoint folder or scfm run; refuses other model structures with a
// FormatError naming `verb` and what it needs (`need`, e.g. "batch tokens, DSBN, DAB").
nlohmann::json read_scgpt_args(const std::string& dir, const std::string& verb, const std::string& need = "");

// Keyed Fisher-Yates permutation of 0..n-1 for (seed, epoch, stream): the same for any thread
// count or batch size.
std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t stream);

// StepLR(step 1 epoch, gamma): sets base_lr * gamma^(epoch - 1) on every group; returns it.
double set_step_lr(torch::optim::Optimizer& optimizer, double base_lr, double gamma, int64_t epoch);

}  // namespace scfm::tasks
