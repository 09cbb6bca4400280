#include "train/compile.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "runtime/comm/communicator.h"
#include "passes/pipeline.h"

namespace autosp::train {

ir::CostTarget HostCostTarget() { return {.cpu_threads = at::get_num_threads()}; }

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
  trace.attention_mask_input = options.attention_mask_input;
  trace.mask_pad_token = options.mask_pad_token;
  trace.segment_ids_input = options.segment_ids_input;
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

  passes::TrainingPipelineOptions lower;
  lower.sp = options.sp;
  lower.compute_dtype = options.compute_dtype;
  lower.differentiate = options.differentiate;
  AUTOSP_ASSIGN_OR_RETURN(lower.checkpoint,
                          passes::ParseCheckpointPolicy(options.checkpoint_policy));
  lower.memory_budget_bytes = options.memory_budget_bytes;
  lower.sync_gradients = options.sync_gradients;
  lower.stream_gradients = options.stream_gradients;
  lower.loss_scale_input = options.loss_scale_input;
  lower.fuse_lm_head_loss = options.fuse_lm_head_loss;
  lower.lm_head_chunk_tokens = options.lm_head_chunk_tokens;
  if (options.lm_head_batch > 0 && options.lm_head_seq_len > 0) {
    lower.lm_head_decide_at = {{"B", options.lm_head_batch}, {"S", options.lm_head_seq_len}};
  }
  if (options.budget_seq_len > 0) lower.budget_bindings = {{"B", 1}, {"S", options.budget_seq_len}};
  lower.cost_target = HostCostTarget();
  if (!options.dump_dir.empty()) {
    lower.pass_options.dump_after = "all";
    lower.pass_options.dump_dir = options.dump_dir;
  }
  AUTOSP_ASSIGN_OR_RETURN(passes::LoweredGraph lowered, passes::LowerForTraining(graph, lower));
  step.grads = std::move(lowered.grads);
  if (lowered.checkpoint) step.recompute_flops = lowered.checkpoint->recompute_flops;
  runtime::ExecOptions exec;
  if (options.sp > 1) exec.mesh_axes["sp"] = options.sp_comm;
  if (options.stream_gradients && options.differentiate) {
    exec.stream_outputs_from = graph.num_forward_outputs().value_or(1);
  }
  AUTOSP_ASSIGN_OR_RETURN(step.executor, runtime::Executor::Create(graph, exec));
  return step;
}

StatusOr<std::vector<at::Tensor>> CompiledStep::Run(
    const std::vector<at::Tensor>& params, const at::Tensor& input_ids, const at::Tensor& labels,
    const at::Tensor& position_ids, const at::Tensor& attention_mask,
    const runtime::OutputSink& sink, double loss_scale, const at::Tensor& segment_ids) {
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
  if (model.segment_ids_index != static_cast<size_t>(-1)) {
    if (!segment_ids.defined()) {
      return InvalidArgument(
          "this model takes a segment_ids input (packed documents); none was "
          "given");
    }
    inputs[model.segment_ids_index] = segment_ids;
  } else if (segment_ids.defined()) {
    return InvalidArgument("segment_ids given to a model compiled without a segment_ids input");
  }
  if (grads.loss_scale_input) {
    inputs[*grads.loss_scale_input] = at::scalar_tensor(loss_scale, at::kFloat);
  } else if (loss_scale != 1.0) {
    return InvalidArgument("loss scale {} given to a step compiled without loss scaling", loss_scale);
  }
  return executor->Run(inputs, sink);
}

}  // namespace autosp::train
