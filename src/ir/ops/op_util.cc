#include "ir/ops/op_util.h"

namespace autosp::ir::ops {

StatusOr<int64_t> NormalizeDim(int64_t dim, int64_t rank, std::string_view what) {
  if (dim < -rank || dim >= rank || rank == 0) {
    return InvalidArgument("{} {} is out of range for rank {}", what, dim, rank);
  }
  return dim < 0 ? dim + rank : dim;
}

Status ExpectRank(const TensorType& t, int64_t rank, std::string_view what) {
  if (t.rank() != rank) {
    return InvalidArgument("{} must have rank {}, got rank {}", Describe(what, t), rank, t.rank());
  }
  return Status::Ok();
}

Status ExpectMinRank(const TensorType& t, int64_t rank, std::string_view what) {
  if (t.rank() < rank) {
    return InvalidArgument("{} must have rank >= {}, got rank {}", Describe(what, t), rank,
                           t.rank());
  }
  return Status::Ok();
}

Status ExpectFloat(const TensorType& t, std::string_view what) {
  if (!IsFloatingPoint(t.dtype)) {
    return InvalidArgument("{} must be floating point (f32, bf16, f16)", Describe(what, t));
  }
  return Status::Ok();
}

Status ExpectInteger(const TensorType& t, std::string_view what) {
  if (!IsInteger(t.dtype)) {
    return InvalidArgument("{} must be an integer tensor (i64, i32)", Describe(what, t));
  }
  return Status::Ok();
}

Status ExpectSameDType(const TensorType& a, std::string_view what_a, const TensorType& b,
                       std::string_view what_b) {
  if (a.dtype != b.dtype) {
    return InvalidArgument("dtype mismatch: {} vs {}", Describe(what_a, a), Describe(what_b, b));
  }
  return Status::Ok();
}

Status ExpectDimEqual(const DimContext& ctx, const DimExpr& a, const DimExpr& b,
                      std::string_view what) {
  if (!ctx.Equal(a, b)) {
    return InvalidArgument("{} must match: {} vs {}", what, a.ToString(), b.ToString());
  }
  return Status::Ok();
}

StatusOr<std::vector<DimExpr>> BroadcastDims(const DimContext& ctx, const TensorType& a,
                                             std::string_view what_a, const TensorType& b,
                                             std::string_view what_b) {
  size_t rank = std::max(a.dims.size(), b.dims.size());
  std::vector<DimExpr> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Right-aligned.
    const DimExpr* da = i < a.dims.size() ? &a.dims[a.dims.size() - 1 - i] : nullptr;
    const DimExpr* db = i < b.dims.size() ? &b.dims[b.dims.size() - 1 - i] : nullptr;
    DimExpr& o = out[rank - 1 - i];
    if (da == nullptr) {
      o = *db;
    } else if (db == nullptr) {
      o = *da;
    } else if (ctx.Equal(*da, *db)) {
      o = *da;
    } else if (da->is_constant() && da->constant_value() == 1) {
      o = *db;
    } else if (db->is_constant() && db->constant_value() == 1) {
      o = *da;
    } else {
      return InvalidArgument("cannot broadcast {} with {}: dim {} ({}) vs dim {} ({})",
                             Describe(what_a, a), Describe(what_b, b),
                             a.dims.size() - 1 - i, da->ToString(), b.dims.size() - 1 - i,
                             db->ToString());
    }
  }
  return out;
}

OpDef MakeOpDef(OpKind kind, std::string_view doc, std::vector<OperandSpec> operands,
                std::vector<AttrSpec> attrs, ShapeFn fn, OpTraits traits) {
  OpDef def;
  def.kind = kind;
  def.doc = doc;
  def.schema.operands = std::move(operands);
  def.schema.attrs = std::move(attrs);
  def.traits = traits;
  def.infer_shape = fn;
  return def;
}

}  // namespace autosp::ir::ops
