// Helpers shared by the cost functions and result-strides rules in
// src/ir/ops/*.cc (internal to src/ir).
//
// Workspace comments in the family files follow the kernels in
// src/runtime/kernels/*.cc statement by statement: C++ temporaries live to
// the end of their full expression, named locals to the end of the kernel,
// and `.to(same dtype)` returns its operand (no allocation). Sizes there:
// X = bytes of the (first) result, F = elements of the result in fp32 bytes,
// R = one fp32 per row (the [N, 1] statistics of norms).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "ir/cost.h"
#include "ir/graph.h"
#include "ir/op_registry.h"
#include "ir/strides.h"

namespace autosp::ir::ops {

inline DimExpr Numel(const Value* v) { return v->type().NumElements(); }
inline DimExpr Bytes(const Value* v) { return v->type().SizeInBytes(); }

/// Operands read plus results written.
inline DimExpr IoBytes(const Node& n) {
  DimExpr b = 0;
  for (const Value* v : n.operands()) b += Bytes(v);
  for (size_t i = 0; i < n.num_results(); ++i) b += Bytes(n.result(i));
  return b;
}

/// Elements per row: the product of all dims but the last.
inline DimExpr Rows(const Value* v) {
  const auto& dims = v->type().dims;
  DimExpr rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows *= dims[i];
  return rows;
}

inline DimExpr LastDim(const Value* v) {
  const auto& dims = v->type().dims;
  return dims.empty() ? DimExpr(1) : dims.back();
}

/// min(rows, chunk) for rows >= 1 and a constant chunk >= 1, as a polynomial
/// in floor atoms: rows - (rows - chunk) * [rows >= chunk], where the
/// indicator is floor((floor(rows / chunk) + K) / (K + 1)) with K = 2^40
/// (exact for rows < 2^40 * chunk). The token-chunked kernels allocate one
/// chunk of min(rows, chunk) rows.
inline DimExpr MinRows(const DimExpr& rows, int64_t chunk) {
  if (std::optional<int64_t> r = rows.AsConstant()) return std::min(*r, chunk);
  constexpr int64_t kBig = int64_t{1} << 40;
  const DimExpr at_least =
      DimExpr::FloorDiv(DimExpr::FloorDiv(rows, chunk) + DimExpr(kBig), kBig + 1);
  return rows - (rows - DimExpr(chunk)) * at_least;
}

/// Reads its operands and writes its results once, `kFlops` FLOPs per element
/// of result 0, no workspace (elementwise ops; 0 for gathers and copies).
template <int64_t kFlops>
OpCost PerElementCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = IoBytes(n);
  if constexpr (kFlops == 0) {
    c.flops = 0;
  } else if constexpr (kFlops == 1) {
    c.flops = Numel(n.result(0));
  } else {
    c.flops = Numel(n.result(0)) * DimExpr(kFlops);
  }
  return c;
}

/// One FLOP per element of operand 0 (reductions, scatters), no workspace.
inline OpCost PerInputElementCost(const Node& n, const CostTarget&) {
  OpCost c;
  c.bytes = IoBytes(n);
  c.flops = Numel(n.operand(0));
  return c;
}

/// A view: no FLOPs, moves nothing (reshape too: a copying reshape is the
/// memory planner's business).
inline OpCost ViewCost(const Node&, const CostTarget&) { return OpCost{DimExpr(0), DimExpr(0)}; }

/// Declares the cost and result-strides rules of `kind` (after it is registered).
inline void SetCostAndStrides(OpRegistry& r, OpKind kind, CostFn cost, ResultStridesFn strides) {
  OpDef& def = r.Mutable(kind);
  def.cost = cost;
  def.result_strides = strides;
}

}  // namespace autosp::ir::ops
