// full, arange.
#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

StatusOr<std::vector<TensorType>> FullShape(const ShapeInput& in) {
  std::vector<DimExpr> shape = in.attrs.GetDims("shape");
  for (const DimExpr& d : shape) {
    if (d.is_constant() && d.constant_value() < 0) {
      return InvalidArgument("attribute 'shape' has a negative dim {}", d.constant_value());
    }
  }
  return ops::One(TensorType(in.attrs.GetDType("dtype"), std::move(shape)));
}

// arange() {end, start?, dtype?} -> [end - start], default dtype i64.
StatusOr<std::vector<TensorType>> ArangeShape(const ShapeInput& in) {
  DimExpr start = in.attrs.GetDimOr("start", 0);
  DimExpr end = in.attrs.GetDim("end");
  DimExpr len = end - start;
  if (len.is_constant() && len.constant_value() < 0) {
    return InvalidArgument("arange end {} is before start {}", end.ToString(), start.ToString());
  }
  return ops::One(TensorType(in.attrs.GetDTypeOr("dtype", DType::kI64), {len}));
}

}  // namespace

void RegisterCreationOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::OptAttr;
  using ops::ReqAttr;
  r.Register(MakeOpDef(OpKind::kFull, "a tensor of shape filled with value", {},
                       {ReqAttr("shape", AttrKind::kDims), ReqAttr("value", AttrKind::kFloat),
                        ReqAttr("dtype", AttrKind::kDType)},
                       &FullShape));
  r.Register(MakeOpDef(OpKind::kArange, "start, start+1, ..., end-1", {},
                       {ReqAttr("end", AttrKind::kDim), OptAttr("start", AttrKind::kDim),
                        OptAttr("dtype", AttrKind::kDType)},
                       &ArangeShape));
  r.Mutable(OpKind::kFull).seq_layout = &ops::SeqLayoutReplicated;
  r.Mutable(OpKind::kArange).seq_layout = &ops::SeqLayoutReplicated;
  // Precision: no operands; the dtype attribute says it.
  r.Mutable(OpKind::kFull).precision = PrecisionRule::kFollowOperands;
  r.Mutable(OpKind::kArange).precision = PrecisionRule::kFollowOperands;
  // Cost (no FLOPs, the result written) and result strides: fresh, contiguous.
  ops::SetCostAndStrides(r, OpKind::kFull, &ops::PerElementCost<0>, &FreshContiguous);
  ops::SetCostAndStrides(r, OpKind::kArange, &ops::PerElementCost<0>, &FreshContiguous);
}

}  // namespace autosp::ir
