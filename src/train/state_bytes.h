// What one rank holds for the training state, by part: the numbers the
// trainer prints at start-up and `autosp plan` predicts.
#pragma once

#include <cstdint>

namespace autosp::train {

/// Bytes this rank holds for the training state, by part.
struct TrainingStateBytes {
  int64_t weights = 0;    ///< working parameters (compute dtype)
  int64_t gradients = 0;  ///< accumulated gradients (full, or this rank's shard at ZeRO-2)
  int64_t master = 0;     ///< fp32 master weights beyond the working copy (0 when they are it)
  int64_t moments = 0;    ///< Adam's two fp32 moments (this rank's shard at ZeRO >= 1)
  int64_t total() const { return weights + gradients + master + moments; }
};

}  // namespace autosp::train
