// Activation checkpointing over the joint forward+backward graph.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ir/cost.h"
#include "ir/dim_expr.h"
#include "passes/pass.h"

namespace autosp::passes {

struct CheckpointOptions {
  /// "none": save everything the backward reads. "full": keep only each
  /// transformer block's inputs and recompute the block's forward in the
  /// backward (torch.utils.checkpoint per layer). "sac": sequence-aware —
  /// never recompute attention, other O(S^2) ops, random ops or
  /// collectives; recompute cheap O(S) ops where that saves bytes (min-cut).
  std::string policy = "sac";
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
  /// nodes they depend on form the forward region.
  size_t num_forward_outputs = 1;
  /// The machine the memory plan models kernel workspace for (ir/cost.h);
  /// training passes LibTorch's intra-op thread count.
  ir::CostTarget cost_target;
};

/// What the rewrite did.
struct CheckpointReport {
  std::string policy;
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
/// Errors: unknown policy; a budget nothing fits (naming the smallest budget
/// that would); a budget without the bindings to check it.
StatusOr<CheckpointReport> ApplyCheckpointing(ir::Graph& graph, const CheckpointOptions& options);

/// "checkpoint": ApplyCheckpointing as a pass.
std::unique_ptr<Pass> CreateCheckpointPass(CheckpointOptions options = {});

}  // namespace autosp::passes
