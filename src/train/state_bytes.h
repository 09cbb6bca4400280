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

/// What ZeroOptimizer (zero.h) holds per rank for `num_parameters` elements
/// on `world_size` ranks: the flat buffers are padded to a multiple of the
/// world size; weights in `param_bytes` per element, gradients in
/// `grad_bytes` (full at stages 0 and 1, an fp32 shard at stage 2), fp32
/// master (a shard at stage >= 1; none at stage 0 when the weights are fp32)
/// and two fp32 moments (a shard at stage >= 1). `autosp plan` prints this;
/// the trainer measures it.
inline TrainingStateBytes PlanTrainingState(int64_t num_parameters, int64_t world_size, int stage,
                                            int64_t param_bytes, int64_t grad_bytes) {
  const int64_t padded = (num_parameters + world_size - 1) / world_size * world_size;
  const int64_t shard = stage == 0 ? padded : padded / world_size;
  TrainingStateBytes b;
  b.weights = padded * param_bytes;
  b.gradients = stage < 2 ? padded * grad_bytes : shard * 4;
  b.master = stage == 0 && param_bytes == 4 ? 0 : shard * 4;
  b.moments = 2 * shard * 4;
  return b;
}

}  // namespace autosp::train
