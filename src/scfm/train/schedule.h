// Learning-rate schedules of scBenchmark and scGPT, as functions of the global optimiser step.
//
// warmup-constant (scBenchmark): lr * min(step, warmup) / warmup, then lr. The original applies
// its warmup only while epoch == 1, so when the first epoch has fewer batches than warmup_iters
// the rate stays at the partial value for the rest of training; here warmup counts global steps
// across epochs, which is identical when epoch 1 is longer than the warmup and fixes the stall.
// cosine (scGPT / transformers' get_cosine_schedule_with_warmup): linear warmup, then
// lr * 0.5 * (1 + cos(pi * progress)) over total_steps.
// step (scGPT's StepLR): lr * gamma^(floor(step / step_size)), after an optional warmup.
#pragma once

#include <cstdint>
#include <string>

namespace scfm::train {

enum class ScheduleKind { WarmupConstant, Cosine, Step };
ScheduleKind parse_schedule(const std::string& name);  // warmup-constant | cosine | step

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::WarmupConstant;
  double lr = 2e-4;              // --lr
  int64_t warmup_steps = 10000;  // --warmup-iters
  int64_t total_steps = 0;       // cosine: the whole run
  int64_t step_size = 1;         // step: StepLR's step_size (in optimiser steps)
  double gamma = 0.99;           // step: StepLR's gamma
};

// The rate for the optimiser step number `step` (0-based: the first update uses step 0).
double learning_rate(const ScheduleOptions& options, int64_t step);

}  // namespace scfm::train
