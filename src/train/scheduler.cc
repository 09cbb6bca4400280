#include "train/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace autosp::train {
namespace {

/// Warmup progress in [0, 1] at `step`, as DeepSpeed computes it (at least 2
/// warmup steps, so the log form never divides by log(1)).
double WarmupGamma(const SchedulerConfig& s, int64_t step) {
  const int64_t warmup = std::max<int64_t>(2, s.warmup_num_steps);
  if (step >= warmup) return 1.0;
  if (s.warmup_log) return std::log(static_cast<double>(step + 1)) / std::log(static_cast<double>(warmup));
  return static_cast<double>(step) / static_cast<double>(warmup);
}

}  // namespace

double LearningRate(const SchedulerConfig& s, double base_lr, int64_t step) {
  switch (s.type) {
    case SchedulerConfig::Type::kNone:
      return base_lr;
    case SchedulerConfig::Type::kWarmupLr:
      return s.warmup_min_lr + (s.warmup_max_lr - s.warmup_min_lr) * WarmupGamma(s, step);
    case SchedulerConfig::Type::kWarmupCosineLr: {
      if (step < s.warmup_num_steps) {
        return base_lr * (s.warmup_min_ratio + (1.0 - s.warmup_min_ratio) * WarmupGamma(s, step));
      }
      const double done = static_cast<double>(step - s.warmup_num_steps + 1);
      const double total = static_cast<double>(s.total_num_steps - s.warmup_num_steps);
      const double cosine = (1.0 + std::cos(std::numbers::pi * std::min(done / total, 1.0))) / 2.0;
      return base_lr * std::max(0.0, s.cos_min_ratio + (1.0 - s.cos_min_ratio) * cosine);
    }
  }
  return base_lr;
}

}  // namespace autosp::train
