#include "passes/pipeline.h"

#include "passes/autodiff_pass.h"
#include "passes/fuse_lm_head_loss.h"
#include "passes/mixed_precision.h"
#include "passes/sp/sp_passes.h"

namespace autosp::passes {

void BuildTrainingPipeline(PassManager& pm, const TrainingPipelineOptions& options,
                           LoweredGraph* out) {
  if (options.compute_dtype != ir::DType::kF32) {
    pm.AddPass(CreateMixedPrecisionPass({.dtype = options.compute_dtype}));
  }
  if (options.sp > 1) {
    for (auto& pass : CreateSpPasses()) pm.AddPass(std::move(pass));
  }
  if (options.fuse_lm_head_loss) {
    pm.AddPass(CreateFuseLmHeadLossPass(
        {.chunk_tokens = options.lm_head_chunk_tokens, .decide_at = options.lm_head_decide_at}));
  }
  if (!options.differentiate) return;
  pm.AddPass(CreateAutodiffPass({.loss_scale_input = options.loss_scale_input}, &out->grads));
  if (options.sp > 1 && options.sync_gradients) pm.AddPass(CreateSpSyncGradientsPass());
  if (options.checkpoint != CheckpointPolicy::kNone) {
    ActivationCheckpointOptions ckpt;
    ckpt.policy = options.checkpoint;
    ckpt.memory_budget = options.memory_budget_bytes;
    ckpt.budget_bindings = options.budget_bindings;
    ckpt.cost_target = options.cost_target;
    ckpt.stream_gradients = options.stream_gradients;
    out->checkpoint.emplace();
    pm.AddPass(CreateCheckpointPass(std::move(ckpt), &*out->checkpoint));
  }
}

StatusOr<LoweredGraph> LowerForTraining(ir::Graph& graph, const TrainingPipelineOptions& options) {
  if (options.sp < 1) {
    return InvalidArgument("sequence_parallel_size must be >= 1, got {}", options.sp);
  }
  if (options.compute_dtype != ir::DType::kF32 && options.compute_dtype != ir::DType::kBF16 &&
      options.compute_dtype != ir::DType::kF16) {
    return InvalidArgument("compute dtype must be f32, bf16 or f16, got {}",
                           ir::DTypeName(options.compute_dtype));
  }
  if (options.sp > 1) AUTOSP_RETURN_IF_ERROR(graph.dims().SetMeshAxis("sp", options.sp));
  LoweredGraph lowered;
  PassManager pm(options.pass_options);
  BuildTrainingPipeline(pm, options, &lowered);
  AUTOSP_RETURN_IF_ERROR(pm.Run(graph).status());
  return lowered;
}

}  // namespace autosp::passes
