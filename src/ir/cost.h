// The cost of one op: FLOPs, bytes moved and kernel workspace, as symbolic
// expressions of the graph's dims (B, S, ...), for a target passed in. Each
// op declares its cost function in its family file (src/ir/ops/*.cc, the
// OpDef::cost slot). The checkpoint pass reads FLOPs and bytes to decide what
// to recompute; the memory planner reads `workspace`; `autosp plan` turns
// FLOPs and bytes into a step time.
//
// Conventions:
//  * flops: multiply-adds count 2; a transcendental counts as a few FLOPs
//    (rough, only relative sizes matter for elementwise ops). Attention counts
//    the two S x S GEMMs (4*B*H*Sq*Sk*D, halved when causal): O(S^2).
//  * bytes: operands read plus fresh results written. A view (reshape,
//    transpose, slice, ...) moves nothing: 0.
//  * workspace: the peak bytes a kernel allocates beyond its fresh results,
//    for the LibTorch CPU kernels of src/runtime (see each op's comment in
//    its family file). Attention on CPU uses ATen's fused flash kernel, whose
//    scratch is per thread and independent of S beyond small S: it is
//    modelled from CostTarget::cpu_threads. On a GPU target the fused kernels
//    keep no S x S buffer either; their scratch is ignored.
#pragma once

#include <cstdint>

#include "ir/dim_expr.h"

namespace autosp::ir {

class Node;

/// What the cost functions model: the machine the kernels run on. Whoever
/// runs the kernels knows it (training: LibTorch's intra-op thread count);
/// the compiler core never guesses it.
struct CostTarget {
  /// ATen's intra-op threads on the CPU: the flash-attention kernels keep one
  /// scratch block per thread. 1 models a single-threaded run.
  int64_t cpu_threads = 1;
};

/// Symbolic cost of one node; a function of the graph's symbols.
struct OpCost {
  DimExpr flops;  ///< floating point operations
  DimExpr bytes;  ///< bytes read plus written
  /// Peak bytes the kernel allocates beyond its fresh results while it runs
  /// (temporaries, scratch buffers), for the memory planner.
  DimExpr workspace = 0;
};

/// The cost of `node` on `target`: node.def().cost(node, target).
OpCost NodeCost(const Node& node, const CostTarget& target);

}  // namespace autosp::ir
