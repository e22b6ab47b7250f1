#include "scfm/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "scfm/util/error.h"

namespace scfm::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "warmup-constant" || name == "constant") return ScheduleKind::WarmupConstant;
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "step") return ScheduleKind::Step;
  throw Error("--scheduler '" + name + "': expected warmup-constant, cosine or step");
}

double learning_rate(const ScheduleOptions& o, int64_t step) {
  const double warm = o.warmup_steps > 0 ? std::min<double>(1.0, static_cast<double>(step) / o.warmup_steps) : 1.0;
  switch (o.kind) {
    case ScheduleKind::WarmupConstant:
      return o.lr * warm;
    case ScheduleKind::Cosine: {
      if (step < o.warmup_steps) return o.lr * warm;
      const double span = std::max<int64_t>(1, o.total_steps - o.warmup_steps);
      const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
      return o.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
    case ScheduleKind::Step: {
      if (step < o.warmup_steps) return o.lr * warm;
      const int64_t k = (step - o.warmup_steps) / std::max<int64_t>(1, o.step_size);
      return o.lr * std::pow(o.gamma, static_cast<double>(k));
    }
  }
  return o.lr;
}

}  // namespace scfm::train
