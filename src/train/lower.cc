#include "train/lower.h"

#include "ir/verifier.h"
#include "passes/sp_partition.h"

namespace autosp::train {

StatusOr<LoweredGraph> LowerForTraining(ir::Graph& graph, const LowerOptions& options) {
  if (options.sp < 1) return InvalidArgument("sequence_parallel_size must be >= 1, got {}", options.sp);
  LoweredGraph lowered;
  if (options.sp > 1) {
    AUTOSP_RETURN_IF_ERROR(graph.dims().SetMeshAxis("sp", options.sp));
    passes::PassManager pm(options.pass_options);
    for (auto& pass : passes::CreateSpPasses()) pm.AddPass(std::move(pass));
    AUTOSP_RETURN_IF_ERROR(pm.Run(graph).status());
  }
  if (!options.differentiate) return lowered;
  AUTOSP_ASSIGN_OR_RETURN(lowered.grads, autodiff::Differentiate(graph));
  if (options.sp > 1) {
    passes::SpSyncGradientsOptions sync;
    sync.first_grad_output = lowered.grads.num_forward_outputs;
    passes::PassManager pm(options.pass_options);
    pm.AddPass(passes::CreateSpSyncGradientsPass(sync));
    AUTOSP_RETURN_IF_ERROR(pm.Run(graph).status());
  }
  if (options.checkpoint_policy != "none") {
    passes::CheckpointOptions ckpt;
    ckpt.policy = options.checkpoint_policy;
    ckpt.num_forward_outputs = lowered.grads.num_forward_outputs;
    ckpt.memory_budget = options.memory_budget_bytes;
    ckpt.budget_bindings = options.budget_bindings;
    ckpt.cost_target = options.cost_target;
    AUTOSP_ASSIGN_OR_RETURN(lowered.checkpoint, passes::ApplyCheckpointing(graph, ckpt));
    AUTOSP_RETURN_IF_ERROR(ir::VerifyGraph(graph));
  }
  return lowered;
}

}  // namespace autosp::train
