// Helpers shared by the shape functions in src/ir/ops/*.cc (internal to src/ir).
#pragma once

#include <string>
#include <string_view>
#include <vector>

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
