// The cost model: FLOPs, bytes moved and kernel workspace of every op, as
// symbolic expressions of the graph's dims (B, S, ...). It fills the `cost`
// slot of every OpDef (ir::OpRegistry). The checkpoint pass reads FLOPs and
// bytes to decide what to recompute; the memory planner reads `workspace`;
// `autosp plan` turns FLOPs and bytes into a step time.
//
// Conventions:
//  * flops: multiply-adds count 2; a transcendental counts as a few FLOPs
//    (rough, only relative sizes matter for elementwise ops). Attention counts
//    the two S x S GEMMs (4*B*H*Sq*Sk*D, halved when causal): O(S^2).
//  * bytes: operands read plus fresh results written. A view (reshape,
//    transpose, slice, ...) moves nothing: 0.
//  * workspace: the peak bytes a kernel allocates beyond its fresh results,
//    for the LibTorch CPU kernels of src/runtime (see each op's comment in
//    cost_model.cc). Attention on CPU uses ATen's fused flash kernel, whose
//    scratch is per thread and independent of S beyond small S: it is
//    modelled from CostTarget::cpu_threads. On a GPU target the fused kernels
//    keep no S x S buffer either; their scratch is ignored.
#pragma once

#include <cstdint>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace autosp::passes {

/// What the workspace model describes.
struct CostTarget {
  /// ATen's intra-op threads on the CPU (the flash-attention kernels keep one
  /// scratch block per thread).
  int64_t cpu_threads = 1;
};

/// Sets the process-wide target the cost functions model (call before
/// planning; not thread-safe against concurrent planning).
void SetCostTarget(const CostTarget& target);
/// The current target.
const CostTarget& GetCostTarget();

/// Fills OpDef::cost for every op kind (idempotent). Every switch over OpKind
/// in the cost model lists every op, so a new op is a compile error there.
void RegisterOpCosts();

/// The cost of one node (RegisterOpCosts first if needed).
ir::OpCost NodeCost(const ir::Node& node);

/// True for ops whose result always shares its first operand's storage in
/// ATen (transpose, permute, expand, slice, split). Reshape is a view only
/// when the strides allow it; the planner decides that (see memory_plan.h).
bool IsViewOp(ir::OpKind kind);

}  // namespace autosp::passes
