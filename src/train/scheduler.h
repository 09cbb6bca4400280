// Learning-rate schedules, as DeepSpeed's WarmupLR and WarmupCosineLR compute
// them (deepspeed/runtime/lr_schedules.py), as pure functions of the step.
#pragma once

#include <cstdint>

#include "train/ds_config.h"

namespace autosp::train {

/// The learning rate of optimizer update number `step` (0-based). Without a
/// scheduler: `base_lr`. WarmupLR ignores base_lr (warmup_max_lr is the peak,
/// as in DeepSpeed); WarmupCosineLR scales base_lr by its ratio.
double LearningRate(const SchedulerConfig& scheduler, double base_lr, int64_t step);

}  // namespace autosp::train
