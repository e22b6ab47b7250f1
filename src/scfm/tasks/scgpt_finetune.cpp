#include "scfm/tasks/scgpt_finetune.h"

#include <torch/optim/adam.h>

#include <cmath>
#include <fstream>

#include "scfm/util/error.h"

namespace scfm::tasks {

nlohmann::json read_scgpt_args(const std::string& dir, const std::string& verb, const std::string& need) {
  nlohmann::json args;
  std::ifstream f(dir + "/args.json");
  if (!f) throw FormatError(dir, "args.json", "missing; expected a scGPT checkpoint folder or an scfm run");
  try {
    f >> args;
  } catch (const std::exception& e) {
    throw FormatError(dir + "/args.json", "(json)", e.what());
  }
  if (args.contains("model_structure") && args["model_structure"] != "scgpt")
    throw FormatError(dir + "/args.json", "model_structure",
                      verb + " needs scGPT's TransformerModel" + (need.empty() ? "" : " (" + need + ")") + ", found " +
                          args["model_structure"].dump() + "; pretrain with --model-structure scgpt or give a scGPT folder");
  return args;
}

double set_step_lr(torch::optim::Optimizer& optimizer, double base_lr, double gamma, int64_t epoch) {
  const double lr = base_lr * std::pow(gamma, static_cast<double>(epoch - 1));
  for (auto& pg : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(pg.options()).lr(lr);
  return lr;
}

}  // namespace scfm::tasks
