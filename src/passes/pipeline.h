// The lowering pipeline of a training step, shared by the runtime (compile.h),
// `autosp explain`, `autosp plan` and the tests: one PassManager run of
//   mixed-precision (a compute dtype other than f32),
//   sp-shard-inputs, sp-propagate-layouts, sp-insert-all-to-all,
//   sp-global-loss (sp > 1), fuse-lm-head-loss (unless turned off),
//   autodiff, sp-sync-gradients (sp > 1, unless the caller reduces the
//   gradients itself),
//   checkpoint (a policy other than none)
// on a traced forward graph, with one --dump-before/--dump-after numbering
// across all of them. No kernels are bound here (no LibTorch).
#pragma once

#include <cstdint>
#include <optional>

#include "autodiff/autodiff.h"
#include "ir/dim_expr.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "passes/memory/activation_checkpoint.h"
#include "passes/pass_manager.h"
#include "support/status.h"

namespace autosp::passes {

struct TrainingPipelineOptions {
  /// Ranks the sequence is split over; > 1 runs the SP passes over mesh axis "sp".
  int64_t sp = 1;
  /// The dtype ops compute in: f32 (no mixed-precision pass), bf16 or f16
  /// (the mixed-precision pass runs first, so the SP all-to-alls move it;
  /// parameters and their gradients are in it, the loss stays f32).
  ir::DType compute_dtype = ir::DType::kF32;
  /// true: fuse-lm-head-loss (passes/fuse_lm_head_loss.h) runs after the SP
  /// passes: the LM head and the loss in token chunks, no [B, S, V] logits
  /// or logits gradient. false: the traced linear + cross_entropy.
  bool fuse_lm_head_loss = true;
  /// fuse_lm_head_loss only; 0: chunks of at most 64 MiB of f32 logits.
  int64_t lm_head_chunk_tokens = 0;
  /// fuse_lm_head_loss only: the run's sizes ({B, S}); when set, the head is
  /// fused only where that lowers its bytes there (FuseLmHeadLossOptions::
  /// decide_at). Empty: wherever it matches.
  ir::DimBindings lm_head_decide_at = {};
  /// false: stop after the SP passes and the fusion (the forward graph, as
  /// `explain` shows it).
  bool differentiate = true;
  /// sp > 1 only. true: sp-sync-gradients all-reduces the parameter gradients
  /// over the SP ranks inside the graph. false: the gradient outputs stay
  /// partial sums over SP, for a caller that reduces them itself (ZeRO's one
  /// reduce-scatter over the whole DP x SP world, train/zero.h).
  bool sync_gradients = true;
  /// The executor streams the gradient outputs away as they are made
  /// (runtime::ExecOptions::stream_outputs_from): the checkpoint pass's
  /// budget plan lets them die after their last use.
  bool stream_gradients = false;
  /// fp16 loss scaling: autodiff seeds the backward with a new f32 scalar
  /// input `loss_scale` (LoweredGraph::grads.loss_scale_input says where).
  bool loss_scale_input = false;
  /// Activation checkpointing; kNone adds no checkpoint pass.
  CheckpointPolicy checkpoint = CheckpointPolicy::kNone;
  /// sac only; 0: no budget. Checked at budget_bindings.
  int64_t memory_budget_bytes = 0;
  ir::DimBindings budget_bindings = {};
  /// The machine the checkpoint pass's memory plan models (ir/cost.h).
  ir::CostTarget cost_target = {};
  /// Dumps and verification of the pass manager run.
  PassManagerOptions pass_options = {};
};

/// What lowering did.
struct LoweredGraph {
  /// Where the gradients went (empty when options.differentiate is false).
  autodiff::GradInfo grads;
  /// The checkpoint pass's report, when a policy other than none ran.
  std::optional<ActivationCheckpointReport> checkpoint;
};

/// Appends the pipeline's passes to `pm`; the autodiff and checkpoint passes
/// write what they did into `*out`, which must outlive pm's Run.
void BuildTrainingPipeline(PassManager& pm, const TrainingPipelineOptions& options,
                           LoweredGraph* out);

/// Lowers a traced forward graph (loss at output 0) in place: declares mesh
/// axis "sp" (sp > 1) and runs BuildTrainingPipeline's passes.
StatusOr<LoweredGraph> LowerForTraining(ir::Graph& graph, const TrainingPipelineOptions& options);

}  // namespace autosp::passes
