// The static memory plan of a graph: which storages are live at every step of
// the executor, and the per-rank peak bytes as a symbolic function of the
// graph's dims (B, S, ...), evaluated without running anything.
//
// Conventions (those of runtime::Executor, which the plan predicts):
//  * nodes run in list order; a value dies right after the node that uses it
//    last (a result nobody uses dies at its own node); graph outputs never die
//    (streamed ones, MemoryPlanOptions::stream_outputs_from, do);
//  * graph inputs are allocated by the caller before the run: never charged
//    (their views are free too);
//  * views share their base's storage (transpose, permute, expand, slice,
//    split always; reshape when ATen's stride rule allows it, decided by
//    simulating strides at a generic binding of the symbols): a storage is
//    freed when its last view dies, and counted once;
//  * at step i the allocator holds the live storages, the step's fresh
//    results and the kernel's workspace (the op's cost on the target, plus
//    the copies ATen makes of non-viewable operands in linear/matmul); the
//    peak is the max over steps. That is what ExecStats::peak_bytes measures.
//
// Representation: every size is a polynomial in monomials of the symbols
// (S, B*S, S*S, S/4, ...). Live bytes are kept as dense coefficient vectors
// over the graph's monomials, so a step costs O(#monomials); a step's peak
// that is dominated coefficient-wise by another is dropped (all monomials are
// non-negative), so evaluation is max over a few candidate polynomials.
//
// Files: polynomial.h (the algebra), storage_model.h (storages, views,
// lifetimes), memory_plan.cc (the planner); each op's result strides and
// workspace are declared with the op (src/ir/ops/*.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/cost.h"
#include "ir/dim_expr.h"
#include "ir/graph.h"
#include "support/status.h"

namespace autosp::passes {

/// A symbolic peak: max over candidate polynomials.
class SymbolicPeak {
 public:
  /// The candidate polynomials, each with the node where it occurs.
  struct Candidate {
    ir::DimExpr bytes;
    const ir::Node* node = nullptr;  ///< the step; null: before the first node
  };
  const std::vector<Candidate>& candidates() const { return candidates_; }

  /// The peak under `bindings` and the candidate that attains it.
  struct Value {
    int64_t bytes = 0;
    const ir::Node* node = nullptr;
  };
  StatusOr<Value> Evaluate(const ir::DimBindings& bindings) const;

  /// `max(2*B*S*4096 + ..., ...)`.
  std::string ToString() const;

 private:
  friend class MemoryPlanner;
  std::vector<Candidate> candidates_;
};

/// What PlanMemory computed.
struct MemoryPlan {
  /// Peak allocator bytes over the run (inputs not included).
  SymbolicPeak peak;
  /// Peak bytes of the storages held by live values right after each step
  /// (no workspace; inputs not included): ExecStats::peak_live_value_bytes
  /// minus the inputs' bytes.
  SymbolicPeak live_peak;
  /// Bytes still allocated at the end: the graph outputs' storages.
  ir::DimExpr end_bytes;
  /// Bytes of the storages that are live across the last forward node and
  /// the first backward node (what the forward saves for the backward); 0
  /// when `forward_end` is not given.
  ir::DimExpr saved_bytes;
  /// Number of steps (nodes).
  size_t num_steps = 0;
  /// Node results that share an operand's storage (views), in node order.
  std::vector<const ir::Value*> views;
};

struct MemoryPlanOptions {
  /// When set, the last node of the forward region (saved_bytes is measured
  /// right after it).
  const ir::Node* forward_end = nullptr;
  /// The machine the kernels' workspace is modelled for (ir/cost.h); pass the
  /// one the graph will run on (training: LibTorch's intra-op threads).
  ir::CostTarget cost_target;
  /// As runtime::ExecOptions::stream_outputs_from: outputs from this index on
  /// are handed away when made and die after their last use (the trainer
  /// streams the gradients into ZeRO's flat buffer).
  size_t stream_outputs_from = static_cast<size_t>(-1);
};

/// Plans `graph` as the executor runs it. Errors: a symbol that the view
/// analysis cannot bind (it needs every symbol's divisibility facts only).
StatusOr<MemoryPlan> PlanMemory(const ir::Graph& graph, const MemoryPlanOptions& options = {});

}  // namespace autosp::passes
