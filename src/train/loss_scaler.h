// fp16's dynamic loss scaling, as DeepSpeed's DynamicLossScaler does it: the
// backward is seeded with the scale (so small gradients survive fp16), the
// optimizer divides it back out, and a step whose gradients overflowed is
// skipped. On overflow the scale halves (after `hysteresis` overflows; never
// below min_loss_scale); after loss_scale_window steps without one it
// doubles. A static scale (loss_scale > 0) never changes, but overflowed
// steps are still skipped.
#pragma once

#include <cstdint>

#include "train/ds_config.h"

namespace autosp::train {

class LossScaler {
 public:
  /// Everything that changes as training runs (what a checkpoint keeps).
  struct State {
    double scale = 1;
    int64_t hysteresis_left = 1;
    int64_t iteration = 0;
    int64_t last_overflow = -1;
    int64_t skipped = 0;
  };

  explicit LossScaler(const LossScaleConfig& config);

  State state() const { return {scale_, hysteresis_left_, iteration_, last_overflow_, skipped_}; }
  /// Continues from a saved state. REQUIRES: state.scale > 0.
  void Restore(const State& state);

  /// The scale the next step's backward is seeded with.
  double scale() const { return scale_; }
  bool dynamic() const { return dynamic_; }
  /// Records one optimizer step's outcome and adjusts the scale.
  void Update(bool overflow);
  /// Steps skipped for overflow so far.
  int64_t skipped() const { return skipped_; }

 private:
  LossScaleConfig config_;
  bool dynamic_ = true;
  double scale_ = 1;
  int64_t hysteresis_left_ = 1;
  int64_t iteration_ = 0;
  int64_t last_overflow_ = -1;
  int64_t skipped_ = 0;
};

}  // namespace autosp::train
