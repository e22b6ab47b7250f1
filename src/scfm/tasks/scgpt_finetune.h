// What scGPT's fine-tunes (integrate, perturb finetune) share: the checkpoint folder check and
// the tutorials' StepLR schedule.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "scfm/data/random.h"  // data::keyed_permutation, the fine-tunes' epoch order

namespace torch::optim {
class Optimizer;
}

namespace scfm::tasks {

// args.json of a scGPT checkpoint folder or scfm run; refuses other model structures with a
// FormatError naming `verb` and what it needs (`need`, e.g. "batch tokens, DSBN, DAB").
nlohmann::json read_scgpt_args(const std::string& dir, const std::string& verb, const std::string& need = "");

// StepLR(step 1 epoch, gamma): sets base_lr * gamma^(epoch - 1) on every group; returns it.
double set_step_lr(torch::optim::Optimizer& optimizer, double base_lr, double gamma, int64_t epoch);

}  // namespace scfm::tasks
