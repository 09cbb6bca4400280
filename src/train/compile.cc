#include "train/compile.h"

#include <ATen/ATen.h>

#include "ir/verifier.h"
#include "passes/memory/checkpoint.h"
#include "passes/pass_manager.h"
#include "passes/sp_partition.h"
#include "runtime/comm/communicator.h"

namespace autosp::train {

StatusOr<CompiledStep> CompileCausalLm(const frontend::ModelConfig& config,
                                       const CompileOptions& options) {
  if (options.sp < 1) return InvalidArgument("sequence_parallel_size must be >= 1, got {}", options.sp);
  if (options.sp > 1 && (options.sp_comm == nullptr || options.sp_comm->size() != options.sp)) {
    return InvalidArgument("sequence_parallel_size {} needs an SP communicator of that size",
                           options.sp);
  }
  CompiledStep step;
  step.sp = options.sp;
  frontend::CausalLmOptions trace;
  trace.seq_divisor = options.sp;
  trace.attention_mask_input = options.attention_mask_input;
  trace.mask_pad_token = options.mask_pad_token;
  AUTOSP_ASSIGN_OR_RETURN(step.model, frontend::BuildCausalLm(config, trace));
  return CompileTracedModel(std::move(step.model), options);
}

StatusOr<CompiledStep> CompileTracedModel(frontend::TracedModel model,
                                          const CompileOptions& options) {
  if (options.sp < 1) return InvalidArgument("sequence_parallel_size must be >= 1, got {}", options.sp);
  if (options.sp > 1 && (options.sp_comm == nullptr || options.sp_comm->size() != options.sp)) {
    return InvalidArgument("sequence_parallel_size {} needs an SP communicator of that size",
                           options.sp);
  }
  if (model.graph == nullptr) return InvalidArgument("CompileTracedModel: the model has no graph");
  CompiledStep step;
  step.sp = options.sp;
  step.model = std::move(model);
  ir::Graph& graph = *step.model.graph;

  passes::PassManagerOptions pm_options;
  if (!options.dump_dir.empty()) {
    pm_options.dump_after = "all";
    pm_options.dump_dir = options.dump_dir;
  }
  if (options.sp > 1) {
    AUTOSP_RETURN_IF_ERROR(graph.dims().SetMeshAxis("sp", options.sp));
    passes::PassManager pm(pm_options);
    pm.AddPass(passes::CreateSpPartitionPass());
    AUTOSP_RETURN_IF_ERROR(pm.Run(graph).status());
  }
  AUTOSP_ASSIGN_OR_RETURN(step.grads, autodiff::Differentiate(graph));
  if (options.sp > 1) {
    passes::SpSyncGradientsOptions sync;
    sync.first_grad_output = step.grads.num_forward_outputs;
    passes::PassManager pm(pm_options);
    pm.AddPass(passes::CreateSpSyncGradientsPass(sync));
    AUTOSP_RETURN_IF_ERROR(pm.Run(graph).status());
  }
  if (options.checkpoint_policy != "none") {
    passes::CheckpointOptions ckpt;
    ckpt.policy = options.checkpoint_policy;
    ckpt.num_forward_outputs = step.grads.num_forward_outputs;
    ckpt.memory_budget = options.memory_budget_bytes;
    if (options.budget_seq_len > 0) {
      ckpt.budget_bindings["B"] = 1;
      ckpt.budget_bindings["S"] = options.budget_seq_len;
    }
    AUTOSP_ASSIGN_OR_RETURN(passes::CheckpointReport report,
                            passes::ApplyCheckpointing(graph, ckpt));
    AUTOSP_RETURN_IF_ERROR(ir::VerifyGraph(graph));
    step.recompute_flops = report.recompute_flops;
  }
  runtime::ExecOptions exec;
  if (options.sp > 1) exec.mesh_axes["sp"] = options.sp_comm;
  AUTOSP_ASSIGN_OR_RETURN(step.executor, runtime::Executor::Create(graph, exec));
  return step;
}

StatusOr<std::vector<at::Tensor>> CompiledStep::Run(const std::vector<at::Tensor>& params,
                                                    const at::Tensor& input_ids,
                                                    const at::Tensor& labels,
                                                    const at::Tensor& position_ids,
                                                    const at::Tensor& attention_mask) {
  if (params.size() != model.num_parameters) {
    return InvalidArgument("expected {} parameter tensors, got {}", model.num_parameters,
                           params.size());
  }
  std::vector<at::Tensor> inputs = params;
  inputs.resize(model.graph->inputs().size());
  inputs[model.input_ids_index] = input_ids;
  inputs[model.labels_index] = labels;
  inputs[model.position_ids_index] = position_ids;
  if (model.attention_mask_index != static_cast<size_t>(-1)) {
    if (!attention_mask.defined()) {
      return InvalidArgument("this model takes an attention_mask input; none was given");
    }
    inputs[model.attention_mask_index] = attention_mask;
  }
  return executor->Run(inputs);
}

}  // namespace autosp::train
