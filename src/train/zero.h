// ZeRO stages 0 and 1 over the data-parallel group of a DP x SP mesh.
//
// The compiled step already all-reduced every parameter gradient over the SP
// group, so all SP ranks of a replica hold the same gradients; what is left
// is the DP dimension. Parameters are viewed as one flat fp32 buffer
// (ModelParameters order), padded to a multiple of DP.
//
//   stage 0: all-reduce (average) the flat gradient over DP; every rank keeps
//            the full fp32 master copy and Adam moments and updates all of it.
//   stage 1: reduce-scatter (average) the flat gradient over DP; rank d keeps
//            only shard d of the master weights and moments, updates it, and
//            all-gathers the updated shards into the parameters.
//
// Gradient clipping uses the global norm: stage 0 has the whole gradient on
// every rank, stage 1 all-reduces the sum of squares of the shards. As in
// DeepSpeed, gradients are scaled by max_norm / (norm + 1e-6) when the norm
// exceeds max_norm.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "train/ds_config.h"
#include "train/optimizer.h"

namespace autosp::runtime {
class Communicator;
}

namespace autosp::train {

/// What one optimizer step did.
struct ZeroStepResult {
  double grad_norm = 0;  ///< global norm before clipping
  bool clipped = false;
};

/// The optimizer of one rank. Not copyable.
class ZeroOptimizer {
 public:
  /// `params`: this rank's parameter tensors (updated in place by Step),
  /// named by `names` (HF names). `dp`: this rank's DP group (size 1 for no
  /// DP; not owned, outlives this). REQUIRES: stage is 0 or 1.
  ZeroOptimizer(std::vector<at::Tensor> params, std::vector<std::string> names,
                OptimizerConfig config, int stage, runtime::Communicator* dp);

  /// Averages `grads` (one per parameter, this rank's) over DP, clips to
  /// `max_norm` (0: no clipping), applies Adam with `lr`, and writes the new
  /// weights into the parameters. A collective over DP (a failed one is a
  /// kUnavailable Status).
  StatusOr<ZeroStepResult> Step(const std::vector<at::Tensor>& grads, double lr, double max_norm);

  /// Optimizer updates done so far.
  int64_t step() const { return step_; }
  int stage() const { return stage_; }

  /// The full moments, per parameter, named "exp_avg.<name>" and
  /// "exp_avg_sq.<name>" (independent of DP and SP sizes). A collective over
  /// DP under stage 1.
  StatusOr<std::vector<std::pair<std::string, at::Tensor>>> GatherState();

  /// Restores what GatherState returned (from any DP size) and the step count;
  /// the master weights are re-read from the parameters. The error names a
  /// missing or misshaped tensor.
  Status LoadState(const std::map<std::string, at::Tensor>& state, int64_t step);

 private:
  at::Tensor FlatGrad(const std::vector<at::Tensor>& grads) const;
  void ScatterIntoParams(const at::Tensor& flat);
  void ResetMasterFromParams();

  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  OptimizerConfig config_;
  int stage_;
  runtime::Communicator* dp_;
  int64_t numel_ = 0;        ///< parameters' element count
  int64_t padded_ = 0;       ///< numel_ rounded up to a multiple of DP
  int64_t shard_begin_ = 0;  ///< this rank's range of the flat buffer (stage 1)
  int64_t shard_size_ = 0;
  at::Tensor master_;        ///< fp32 master weights: all (stage 0) or this shard (stage 1)
  AdamState state_;
  int64_t step_ = 0;
};

}  // namespace autosp::train
