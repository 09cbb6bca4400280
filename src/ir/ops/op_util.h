// Helpers shared by the shape functions and sequence-parallel layout rules in
// src/ir/ops/*.cc (internal to src/ir).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace autosp::ir::ops {

/// Wraps a single result type.
inline std::vector<TensorType> One(TensorType t) {
  std::vector<TensorType> v;
  v.push_back(std::move(t));
  return v;
}

/// `operand 'x' f32[B, S]`, for messages.
inline std::string Describe(std::string_view what, const TensorType& t) {
  return fmt::format("operand '{}' {}", what, t.ToString());
}

/// A dim index in [-rank, rank) normalized to [0, rank).
StatusOr<int64_t> NormalizeDim(int64_t dim, int64_t rank, std::string_view what);
/// Error unless t has exactly `rank` dims.
Status ExpectRank(const TensorType& t, int64_t rank, std::string_view what);
/// Error unless t has at least `rank` dims.
Status ExpectMinRank(const TensorType& t, int64_t rank, std::string_view what);
/// Error unless t's dtype is floating point.
Status ExpectFloat(const TensorType& t, std::string_view what);
/// Error unless t's dtype is an integer type.
Status ExpectInteger(const TensorType& t, std::string_view what);
/// Error unless a and b have the same dtype.
Status ExpectSameDType(const TensorType& a, std::string_view what_a, const TensorType& b,
                       std::string_view what_b);
/// Error unless dims a and b are provably equal; `what` names them.
Status ExpectDimEqual(const DimContext& ctx, const DimExpr& a, const DimExpr& b,
                      std::string_view what);
/// Numpy-style broadcast of two shapes (dims equal, or one of them is 1).
StatusOr<std::vector<DimExpr>> BroadcastDims(const DimContext& ctx, const TensorType& a,
                                             std::string_view what_a, const TensorType& b,
                                             std::string_view what_b);

/// The operands shared by lm_head_cross_entropy and its backward, from
/// operand `first` on: hidden [..., H], weight [V, H], labels [...] (hidden's
/// leading dims, integer), bias? [V]; hidden, weight and bias of one float
/// dtype, attribute chunk_tokens >= 1 and reduction "mean", "sum" or "none".
Status CheckLmHeadOperands(const ShapeInput& in, size_t first);

// ---- sequence-parallel layout rules (SeqLayoutFn) ---------------------------

/// The error of a layout rule whose op would mix tokens held by different SP
/// ranks; `why` says how ("reduces over the sharded sequence dim").
Status SeqMixError(const Node& node, std::string_view why);
/// Attribute `name` (an int dim of operand 0) in [0, rank).
int64_t SeqAttrDim(const Node& node, std::string_view name);
/// Rule of ops with no operands: replicated.
StatusOr<int64_t> SeqLayoutReplicated(const SeqLayoutInput& in);
/// Rule of elementwise ops with numpy broadcasting: every sharded operand
/// shards the same result dim, and no replicated operand spans it.
StatusOr<int64_t> SeqLayoutBroadcast(const SeqLayoutInput& in);
/// Rule of backward ops and collectives: an error, since sequence parallelism
/// runs on a forward graph before autodiff.
StatusOr<int64_t> SeqLayoutForwardOnly(const SeqLayoutInput& in);

/// Builds an OpDef for registration.
OpDef MakeOpDef(OpKind kind, std::string_view doc, std::vector<OperandSpec> operands,
                std::vector<AttrSpec> attrs, ShapeFn fn, OpTraits traits = {});

/// Shorthands for schemas.
inline OperandSpec Req(std::string_view n) { return {n, OperandSpec::Arity::kRequired}; }
inline OperandSpec Opt(std::string_view n) { return {n, OperandSpec::Arity::kOptional}; }
inline OperandSpec Var(std::string_view n) { return {n, OperandSpec::Arity::kVariadic}; }
inline AttrSpec ReqAttr(std::string_view n, AttrKind k) { return {n, k, true}; }
inline AttrSpec OptAttr(std::string_view n, AttrKind k) { return {n, k, false}; }

}  // namespace autosp::ir::ops
