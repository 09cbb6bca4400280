// Activation checkpointing (recomputation) over the joint forward+backward
// graph. Not to be confused with training snapshots (train/snapshot.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ir/cost.h"
#include "ir/dim_expr.h"
#include "passes/pass.h"

namespace autosp::passes {

/// What activation checkpointing keeps for the backward (the DeepSpeed
/// config key `checkpointing` names it).
enum class CheckpointPolicy {
  /// Save everything the backward reads.
  kNone,
  /// Keep only each transformer block's inputs and recompute the block's
  /// forward in the backward (torch.utils.checkpoint per layer).
  kFull,
  /// Sequence-aware: never recompute attention, other O(S^2) ops, random ops
  /// or collectives; recompute cheap O(S) ops where that saves bytes (min-cut).
  kSac,
};

/// "none", "full", "sac".
std::string_view CheckpointPolicyName(CheckpointPolicy policy);
/// The one parser of policy names. Error: an unknown name, e.g.
/// "unknown checkpoint policy 'most' (none, full, sac)".
StatusOr<CheckpointPolicy> ParseCheckpointPolicy(std::string_view name);

struct ActivationCheckpointOptions {
  /// See CheckpointPolicy.
  CheckpointPolicy policy = CheckpointPolicy::kSac;
  /// sac only; 0: no budget. Otherwise recompute more until the predicted
  /// per-rank peak at `budget_bindings` is at most this many bytes: GEMM
  /// groups, then other O(S^2) groups (cheapest FLOPs per byte first), then
  /// attention layer by layer (sdpa_forward's out + logsumexp and the
  /// all_to_alls around it), and last full's keep set, so a budget that
  /// `full` meets is met. Random ops are never recomputed. An error names the
  /// smallest peak over the whole escalation.
  int64_t memory_budget = 0;
  /// Symbol values (S, B) at which the budget is checked.
  ir::DimBindings budget_bindings;
  /// Symbol values at which byte sizes are weighed in the min-cut (only
  /// ratios matter: sizes of O(S) values scale alike). Unbound symbols: 4096.
  ir::DimBindings reference_bindings;
  /// Graph outputs [0, num_forward_outputs) are the forward's (the loss);
  /// nodes they depend on form the forward region. nullopt: the graph's own
  /// record (Note [Joint graph outputs], set by autodiff).
  std::optional<size_t> num_forward_outputs;
  /// The gradient outputs (from num_forward_outputs on) are streamed away as
  /// they are made (MemoryPlanOptions::stream_outputs_from), so the budget's
  /// plan does not hold them to the end.
  bool stream_gradients = false;
  /// The machine the memory plan models kernel workspace for (ir/cost.h);
  /// training passes LibTorch's intra-op thread count.
  ir::CostTarget cost_target;
};

/// What the rewrite did.
struct ActivationCheckpointReport {
  CheckpointPolicy policy = CheckpointPolicy::kNone;
  /// FLOPs of the forward nodes cloned into the backward.
  ir::DimExpr recompute_flops;
  /// Number of cloned nodes.
  int64_t recomputed_nodes = 0;
  /// Bytes the forward keeps for the backward (live right after the forward).
  ir::DimExpr saved_bytes;
  /// Budget mode: the predicted peak at budget_bindings, and how many
  /// groups (GEMM, O(S^2), attention) were allowed to be recomputed.
  int64_t budget_peak = 0;
  int64_t unbanned_groups = 0;
  /// Budget mode: attention groups (layers) recomputed, of how many.
  int64_t recomputed_attention = 0;
  int64_t attention_groups = 0;
  /// Budget mode: only full's keep set fit (the end of the escalation).
  bool fell_back_to_full = false;
};

/// Rewrites `graph` for `options.policy`: values the backward reads that the
/// policy does not keep are recomputed by clones of their forward producers,
/// inserted right before their first backward use, so the executor frees
/// the originals after their last forward use. Numerics are unchanged
/// (clones run the same deterministic kernels; random ops are never cloned).
/// Errors: a budget with a policy other than sac; a graph that is not a
/// joint graph; a budget nothing fits (naming the smallest budget that
/// would); a budget without the bindings to check it.
StatusOr<ActivationCheckpointReport> ApplyCheckpointing(ir::Graph& graph,
                                                      const ActivationCheckpointOptions& options);

/// "checkpoint": ApplyCheckpointing as a pass. When `report` is given (owned
/// by the caller, outliving the pass), each run writes what it did there.
/// Pipeline options: `checkpoint{policy=full}` (none, full, sac).
std::unique_ptr<Pass> CreateCheckpointPass(ActivationCheckpointOptions options = {},
                                           ActivationCheckpointReport* report = nullptr);

}  // namespace autosp::passes
