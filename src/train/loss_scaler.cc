#include "train/loss_scaler.h"

#include <algorithm>
#include <cmath>

namespace autosp::train {

LossScaler::LossScaler(const LossScaleConfig& config)
    : config_(config),
      dynamic_(config.loss_scale <= 0),
      scale_(config.loss_scale > 0 ? config.loss_scale
                                   : std::ldexp(1.0, static_cast<int>(config.initial_scale_power))),
      hysteresis_left_(config.hysteresis) {}

void LossScaler::Restore(const State& state) {
  scale_ = state.scale;
  hysteresis_left_ = state.hysteresis_left;
  iteration_ = state.iteration;
  last_overflow_ = state.last_overflow;
  skipped_ = state.skipped;
}

void LossScaler::Update(bool overflow) {
  if (overflow) {
    ++skipped_;
    if (dynamic_) {
      if (config_.hysteresis == 1 || hysteresis_left_ == 1) {
        scale_ = std::max(scale_ / 2, config_.min_loss_scale);
      } else {
        --hysteresis_left_;
      }
    }
    last_overflow_ = iteration_;
  } else if (dynamic_ && (iteration_ - last_overflow_) % config_.loss_scale_window == 0) {
    hysteresis_left_ = config_.hysteresis;
    scale_ *= 2;
  }
  ++iteration_;
}

}  // namespace autosp::train
