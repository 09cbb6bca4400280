// The compile pipeline a training step runs: trace the model, partition it
// for sequence parallelism, differentiate, synchronize gradients, bind
// kernels. One CompiledStep serves every sequence length (symbolic S).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "autodiff/autodiff.h"
#include "frontend/model_config.h"
#include "frontend/models/causal_lm.h"
#include "ir/cost.h"
#include "ir/dtype.h"
#include "runtime/executor.h"
#include "support/status.h"

namespace autosp::runtime {
class Communicator;
}

namespace autosp::train {

struct CompileOptions {
  /// Ranks the sequence is split over (1: single device, no SP passes).
  int64_t sp = 1;
  /// This rank's SP group (size sp); required when sp > 1. Not owned.
  runtime::Communicator* sp_comm = nullptr;
  /// When non-empty, the graph after each pass is written here.
  std::string dump_dir;
  /// The model takes an attention_mask [B, S] input (padding) — see
  /// frontend::CausalLmOptions::attention_mask_input.
  bool attention_mask_input = false;
  /// >= 0: the model computes its padding mask as input_ids != this id.
  int64_t mask_pad_token = -1;
  /// The model takes a segment_ids [B, S] input (isolated packing: attention
  /// within documents) — see frontend::CausalLmOptions::segment_ids_input.
  bool segment_ids_input = false;
  /// Activation checkpointing policy as the config writes it ("none", "full"
  /// or "sac"; passes::ParseCheckpointPolicy); anything but "none" runs the
  /// checkpoint pass after autodiff.
  std::string checkpoint_policy = "none";
  /// sac only; 0: no budget. Per-rank peak bytes the plan must fit, checked
  /// at S = budget_seq_len (required with a budget), B = 1.
  int64_t memory_budget_bytes = 0;
  int64_t budget_seq_len = 0;
  /// sp > 1: all-reduce the parameter gradients over SP inside the graph.
  /// false: they come out as partial sums over SP (ZeRO reduces them over
  /// the whole world itself, zero.h).
  bool sync_gradients = true;
  /// Hand the gradient outputs to Run's sink as they are produced instead of
  /// returning them (ExecOptions::stream_outputs_from).
  bool stream_gradients = false;
  /// The dtype the step computes in (passes::TrainingPipelineOptions::
  /// compute_dtype): f32, or bf16 / f16 to run the mixed-precision pass.
  /// Parameters are then fed, and gradients returned, in that dtype; the loss
  /// is f32.
  ir::DType compute_dtype = ir::DType::kF32;
  /// fp16 loss scaling: the step takes the loss scale as an input and
  /// returns every gradient multiplied by it (the loss itself is not).
  bool loss_scale_input = false;
  /// The LM head and loss fused in token chunks (passes::TrainingPipelineOptions::
  /// fuse_lm_head_loss); false keeps the [B, S, V] logits.
  bool fuse_lm_head_loss = true;
  /// > 0: the micro-batch and sequence length the step will run at; the LM
  /// head is then fused only where that lowers its bytes at these sizes.
  int64_t lm_head_batch = 0;
  int64_t lm_head_seq_len = 0;
  /// Tokens per chunk of the fused head; 0: the pass's choice (64 MiB of f32 logits).
  int64_t lm_head_chunk_tokens = 0;
  /// false: the forward graph only (evaluation): the loss is the one output;
  /// no autodiff, gradient sync, checkpointing or loss scale input.
  bool differentiate = true;
};

/// The machine this process's kernels run on, for the cost model: LibTorch's
/// intra-op thread count (the CPU flash-attention scratch is per thread).
ir::CostTarget HostCostTarget();

/// A compiled forward+backward step of a causal LM.
struct CompiledStep {
  frontend::TracedModel model;           ///< the joint graph and where its inputs are
  autodiff::GradInfo grads;              ///< which outputs are which parameter's gradient
  std::unique_ptr<runtime::Executor> executor;
  /// FLOPs the checkpoint pass added (recomputed forward nodes); 0 for "none".
  ir::DimExpr recompute_flops;
  int64_t sp = 1;

  /// Runs one step; `params` in ModelParameters order, the data inputs are
  /// this rank's shard ([B, S/sp]). Returns the graph outputs: loss first,
  /// then one gradient per parameter (all-reduced over SP). segment_ids, for
  /// a model that takes them, is the whole sequence's [B, S] on every rank.
  StatusOr<std::vector<at::Tensor>> Run(const std::vector<at::Tensor>& params,
                                        const at::Tensor& input_ids, const at::Tensor& labels,
                                        const at::Tensor& position_ids,
                                        const at::Tensor& attention_mask = at::Tensor(),
                                        const runtime::OutputSink& sink = {},
                                        double loss_scale = 1.0,
                                        const at::Tensor& segment_ids = at::Tensor());
};

/// Compiles `config` for training: BuildCausalLm, then the lowering pipeline
/// (passes/pipeline.h: SP passes, autodiff, gradient sync, checkpointing), and
/// kernel binding.
StatusOr<CompiledStep> CompileCausalLm(const frontend::ModelConfig& config,
                                       const CompileOptions& options);

/// The same pipeline (SP partition, autodiff, gradient sync, kernels) for a
/// model traced by user code with the public frontend API. `model` follows
/// the input contract of frontend::TracedModel (parameters first, then
/// input_ids, labels, position_ids with their roles; output 0 the loss);
/// sp-shard-inputs records that S is divisible by options.sp.
StatusOr<CompiledStep> CompileTracedModel(frontend::TracedModel model,
                                          const CompileOptions& options);

}  // namespace autosp::train
