// The compiler half of a training step, shared by the runtime pipeline
// (compile.h), `autosp explain` and `autosp plan`: SP passes, autodiff,
// gradient synchronization and activation checkpointing on a traced graph.
// No kernels are bound here (no LibTorch).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "autodiff/autodiff.h"
#include "ir/graph.h"
#include "passes/memory/checkpoint.h"
#include "passes/pass_manager.h"
#include "support/status.h"

namespace autosp::train {

struct LowerOptions {
  /// Ranks the sequence is split over; > 1 runs the SP passes over mesh axis "sp".
  int64_t sp = 1;
  /// false: stop after the SP passes (the forward graph, as `explain` shows it).
  bool differentiate = true;
  /// "none", "full" or "sac" (src/passes/memory/checkpoint.h).
  std::string checkpoint_policy = "none";
  /// sac only; 0: no budget. Checked at budget_bindings.
  int64_t memory_budget_bytes = 0;
  ir::DimBindings budget_bindings;
  /// The machine the checkpoint pass's memory plan models (ir/cost.h).
  ir::CostTarget cost_target;
  /// Dumps and verification of the pass manager runs.
  passes::PassManagerOptions pass_options;
};

/// What lowering did.
struct LoweredGraph {
  /// Where the gradients went (empty when options.differentiate is false).
  autodiff::GradInfo grads;
  /// The checkpoint pass's report, when a policy other than "none" ran.
  std::optional<passes::CheckpointReport> checkpoint;
};

/// Lowers a traced forward graph (loss at output 0) in place:
/// sp-partition (sp > 1), autodiff, sp-sync-gradients (sp > 1), checkpoint.
StatusOr<LoweredGraph> LowerForTraining(ir::Graph& graph, const LowerOptions& options);

}  // namespace autosp::train
