// ZeRO stages 0, 1 and 2 over the whole DP x SP world.
//
// SP ranks of one replica hold identical parameters, so the optimizer state
// is sharded over every rank of the world, as DeepSpeed shards it over its
// sequence-data-parallel group. The compiled step leaves each parameter
// gradient a partial sum over the SP ranks (pipeline option sync_gradients =
// false) and each DP replica has its own batch, so the true gradient is
//   (1 / DP) * sum over all world ranks
// and synchronisation is ONE reduction over the world: an all-reduce
// (stage 0) or a reduce-scatter (stages 1, 2) — no SP all-reduce followed by
// a DP reduction, and no rank ever holds a full reduced gradient at stage >= 1.
//
// Buffers (one flat storage each; parameters and gradients are views into it):
//   working parameters  full, compute dtype (bf16 under bf16; fp32 otherwise)
//   gradients           stage 0/1: full, grad_dtype, accumulated across
//                       micro-batches straight from the executor's streamed
//                       outputs; stage 2: only this rank's fp32 shard — each
//                       bucket is reduce-scattered the moment its last
//                       gradient is produced, then dropped
//   fp32 master         this rank's shard (stage >= 1) or all (stage 0; the
//                       working parameters themselves when they are fp32)
//   Adam moments        two fp32 shards
//
// Layout. The flat index space (parameters in ModelParameters order) is cut
// into buckets of `bucket_elements` (a multiple of the world size; only the
// last bucket is padded, with zeros, to one). At stage >= 1 rank r owns chunk
// r of every bucket; its shard is the concatenation of those chunks. Adam is
// elementwise, so any fixed split of the elements gives the same numbers as
// one device. Stage 0 owns everything (one part).
//
// Gradient clipping uses the global norm (the shards' sums of squares,
// all-reduced); as in DeepSpeed the gradient is scaled by
// max_norm / (norm + 1e-6) when the norm exceeds max_norm.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "support/status.h"
#include "train/state_bytes.h"
#include "train/ds_config.h"
#include "train/optimizer.h"

namespace autosp::runtime {
class Communicator;
}

namespace autosp::train {

/// How the optimizer shards and which dtypes it keeps.
struct ZeroOptions {
  /// ZeRO stage: 0 (nothing sharded), 1 (master weights and moments), 2 (and gradients).
  int stage = 0;
  /// Dtype of the working parameters the compiled step reads.
  at::ScalarType param_dtype = at::kFloat;
  /// Dtype gradients are accumulated in across micro-batches (stages 0 and 1;
  /// stage 2 accumulates its shard in fp32).
  at::ScalarType grad_dtype = at::kFloat;
  /// Dtype gradients are reduced in.
  at::ScalarType comm_dtype = at::kFloat;
  /// Elements per reduction bucket (rounded up to a multiple of the world size).
  int64_t bucket_elements = 500'000'000;
  /// DP replicas: the world's gradient sum is divided by this.
  int64_t dp_size = 1;
};

/// What one optimizer step did.
struct ZeroStepResult {
  double grad_norm = 0;  ///< global norm before clipping (of the unscaled gradient)
  bool clipped = false;
  /// The gradient (or the loss) was not finite: nothing was updated.
  bool skipped = false;
  /// When the gradient was not finite: the first parameter (in model order)
  /// whose reduced gradient holds a NaN or an infinity, by HF name.
  std::string first_nonfinite;
};

/// How the flat buffer was cut (what a sharded checkpoint must record to be
/// reassembled under another world size or stage).
struct ZeroLayout {
  int64_t numel = 0;   ///< parameter elements
  int64_t world = 1;   ///< ranks the buffers were padded for
  int64_t parts = 1;   ///< shards: 1 at stage 0, else world
  int64_t bucket = 0;  ///< elements per bucket (a multiple of world)
};

/// The optimizer of one rank; owns the parameters. Not copyable.
class ZeroOptimizer {
 public:
  /// `init`: full fp32 values of every parameter (identical on every rank),
  /// named by `names` (HF names). `world`: every rank of the DP x SP mesh
  /// (not owned, outlives this). Errors: a stage other than 0-2, a
  /// non-positive bucket size or dp_size.
  static StatusOr<std::unique_ptr<ZeroOptimizer>> Create(const std::vector<at::Tensor>& init,
                                                         std::vector<std::string> names,
                                                         OptimizerConfig config, ZeroOptions options,
                                                         runtime::Communicator* world);
  ~ZeroOptimizer();
  ZeroOptimizer(const ZeroOptimizer&) = delete;
  ZeroOptimizer& operator=(const ZeroOptimizer&) = delete;

  /// The working parameters (param_dtype), views into one flat buffer; Step
  /// writes the new weights into them.
  const std::vector<at::Tensor>& params() const { return params_; }

  /// Starts a micro-batch (stage 2: every bucket waits for its gradients again).
  void BeginMicroBatch();
  /// Adds `scale` * `grad` (this rank's gradient of parameter `index`, a
  /// partial sum over SP) to the accumulated gradient. Stage 2: a bucket
  /// whose gradients are all in is reduce-scattered over the world at once (a
  /// collective: every rank gives gradients in the same order).
  Status AccumulateGradient(size_t index, const at::Tensor& grad, double scale);
  /// Ends a micro-batch; the error names a parameter that got no gradient (stage 2).
  Status EndMicroBatch();

  /// Reduces the accumulated gradients over the world (stages 0, 1), divides
  /// them by `loss_scale`, clips to `max_norm` (0: no clipping), applies Adam
  /// with `lr`, writes the new weights into the parameters (all-gathering
  /// the shards in param_dtype) and zeroes the gradients. With
  /// `skip_if_not_finite`, a gradient whose global norm is not finite (fp16
  /// overflow, or a diverged run), or `loss_finite` false (the same on every
  /// rank), changes nothing but the zeroed gradients (result.skipped).
  /// Collectives over the world (a failed one is a kUnavailable Status).
  StatusOr<ZeroStepResult> Step(double lr, double max_norm, double loss_scale = 1.0,
                                bool skip_if_not_finite = false, bool loss_finite = true);

  /// Optimizer updates done so far.
  int64_t step() const { return step_; }
  int stage() const { return options_.stage; }
  const ZeroOptions& options() const { return options_; }
  /// What this rank holds now (transient reduction buckets not included).
  TrainingStateBytes state_bytes() const;

  /// The full fp32 master weights, per parameter by HF name. A collective
  /// over the world at stage >= 1.
  StatusOr<std::vector<std::pair<std::string, at::Tensor>>> GatherMasterWeights();
  /// How the buffers are cut, and this rank's shard index (< layout.parts;
  /// at stage 0 every rank holds part 0, all of it).
  ZeroLayout layout() const;
  int part() const { return part_index(); }
  /// This rank's Adam moments as flat fp32 shards (exp_avg, exp_avg_sq), as
  /// a sharded checkpoint stores them.
  std::pair<at::Tensor, at::Tensor> MomentShards() const { return {state_.exp_avg, state_.exp_avg_sq}; }
  /// The full moments by "exp_avg.<name>" / "exp_avg_sq.<name>" from the
  /// moment shards of every part of a checkpoint written under `saved`
  /// (shards[i] is part i). Errors: another model size, a missing or
  /// misshaped shard.
  StatusOr<std::map<std::string, at::Tensor>> AssembleMoments(
      const ZeroLayout& saved, const std::vector<std::pair<at::Tensor, at::Tensor>>& shards) const;

  /// Restores weights (by HF name, any float dtype; they become the fp32
  /// master and the working copies), the full moments by "exp_avg.<name>" /
  /// "exp_avg_sq.<name>" (AssembleMoments gives them from any world size or
  /// stage) and the step count. The error names a missing or
  /// misshaped tensor; nothing changes then.
  Status LoadState(const std::map<std::string, at::Tensor>& weights,
                   const std::map<std::string, at::Tensor>& state, int64_t step);

  /// Sets parameter `index` (any float dtype, its shape) in the working copy
  /// and in this rank's part of the fp32 master, leaving the moments alone:
  /// pretrained weights streamed in one tensor at a time. Local (no
  /// collective): every rank is given every tensor and keeps its part.
  Status SetParameter(size_t index, const at::Tensor& value);

 private:
  ZeroOptimizer() = default;
  struct Bucket {
    int64_t begin = 0;         ///< offset in the flat buffer
    int64_t size = 0;          ///< padded length (a multiple of the parts)
    int64_t real = 0;          ///< elements that are parameters (the rest is padding)
    int64_t shard_offset = 0;  ///< where this bucket's chunk sits in the shard
    int64_t remaining = 0;     ///< stage 2: gradient elements still to come this micro-batch
    at::Tensor pending;        ///< stage 2: the bucket being filled (comm_dtype)
  };

  int parts() const;      ///< 1 at stage 0, else the world size
  int part_index() const;
  int64_t chunk(const Bucket& b) const { return b.size / parts(); }
  /// This rank's chunks of a full flat tensor, as one shard tensor (a copy).
  at::Tensor ShardOf(const at::Tensor& full) const;
  /// The full flat tensor (fp32) from every rank's shard: all-gathers each chunk.
  StatusOr<at::Tensor> Unshard(const at::Tensor& shard, at::ScalarType dtype);
  /// Full flat fp32 tensor from per-parameter tensors found by `key(name)`.
  StatusOr<at::Tensor> FlatFrom(const std::map<std::string, at::Tensor>& tensors,
                                const std::string& prefix, std::string_view what) const;
  std::vector<std::pair<std::string, at::Tensor>> SplitFlat(const at::Tensor& flat,
                                                           const std::string& prefix) const;
  /// Reduces a stage-2 bucket that has all its gradients.
  Status FlushBucket(Bucket& b);
  /// Zeroes the accumulated gradients (full or shard).
  void ZeroGradients();
  /// The first parameter over the world whose part of `g` (this rank's
  /// reduced gradient: full at stage 0, the shard otherwise) is not finite.
  /// A collective at stage >= 1.
  StatusOr<std::string> FirstNonFinite(const at::Tensor& g);
  /// Writes the master shard into the working parameters.
  Status PublishWeights();
  bool MasterIsWorkingCopy() const;

  std::vector<std::string> names_;
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<int64_t> offsets_;  ///< each parameter's offset in the flat buffer
  OptimizerConfig config_;
  ZeroOptions options_;
  runtime::Communicator* world_ = nullptr;
  int64_t numel_ = 0;   ///< parameters' element count
  int64_t padded_ = 0;  ///< flat buffer length
  int64_t shard_size_ = 0;
  int64_t bucket_ = 0;  ///< elements per bucket (all but the last)
  std::vector<Bucket> buckets_;
  at::Tensor flat_params_;  ///< working parameters, param_dtype, padded_
  std::vector<at::Tensor> params_;
  at::Tensor flat_grad_;            ///< stages 0/1: grad_dtype, padded_
  std::vector<at::Tensor> grads_;   ///< stages 0/1: views of flat_grad_ shaped like the parameters
  at::Tensor shard_grad_;           ///< stage 2: fp32, shard_size_
  at::Tensor master_;               ///< fp32 shard (all at stage 0)
  AdamState state_;
  int64_t step_ = 0;
};

}  // namespace autosp::train
