#include "scfm/tasks/scgpt_finetune.h"

#include <torch/optim/adam.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "scfm/data/random.h"
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

std::vector<int64_t> keyed_permutation(int64_t n, uint64_t seed, int64_t epoch, int64_t stream) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  data::KeyedRandom rs(seed, epoch, stream, data::RandomPurpose::shuffle);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(rs.below(static_cast<uint64_t>(i + 1)))]);
  return p;
}

double set_step_lr(torch::optim::Optimizer& optimizer, double base_lr, double gamma, int64_t epoch) {
  const double lr = base_lr * std::pow(gamma, static_cast<double>(epoch - 1));
  for (auto& pg : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(pg.options()).lr(lr);
  return lr;
}

}  // namespace scfm::tasks
