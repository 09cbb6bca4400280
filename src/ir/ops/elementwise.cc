// Elementwise arithmetic and activations, dropout, cast.
#include "ir/ops/cost_util.h"
#include "ir/ops/op_util.h"

namespace autosp::ir {
namespace {

// add/sub/mul/div(lhs, rhs): broadcast, same dtype.
StatusOr<std::vector<TensorType>> BinaryShape(const ShapeInput& in) {
  const TensorType& a = in.operand(0);
  const TensorType& b = in.operand(1);
  AUTOSP_RETURN_IF_ERROR(ops::ExpectSameDType(a, "lhs", b, "rhs"));
  if (a.dtype == DType::kBool) {
    return InvalidArgument("{} is bool; arithmetic needs a numeric dtype",
                           ops::Describe("lhs", a));
  }
  AUTOSP_ASSIGN_OR_RETURN(std::vector<DimExpr> dims, ops::BroadcastDims(in.dims, a, "lhs", b, "rhs"));
  return ops::One(TensorType(a.dtype, std::move(dims)));
}

// Unary op on floating point: same type.
StatusOr<std::vector<TensorType>> FloatUnaryShape(const ShapeInput& in) {
  AUTOSP_RETURN_IF_ERROR(ops::ExpectFloat(in.operand(0), "x"));
  return ops::One(in.operand(0));
}

StatusOr<std::vector<TensorType>> NegShape(const ShapeInput& in) {
  if (in.operand(0).dtype == DType::kBool) {
    return InvalidArgument("{} is bool; neg needs a numeric dtype", ops::Describe("x", in.operand(0)));
  }
  return ops::One(in.operand(0));
}

StatusOr<std::vector<TensorType>> GeluShape(const ShapeInput& in) {
  std::string approx = in.attrs.GetStringOr("approximate", "none");
  if (approx != "none" && approx != "tanh") {
    return InvalidArgument("attribute 'approximate' must be \"none\" or \"tanh\", got \"{}\"", approx);
  }
  return FloatUnaryShape(in);
}

StatusOr<std::vector<TensorType>> DropoutShape(const ShapeInput& in) {
  double p = in.attrs.GetFloat("p");
  if (!(p >= 0.0 && p < 1.0)) return InvalidArgument("attribute 'p' must be in [0, 1), got {}", p);
  return FloatUnaryShape(in);
}

// not_equal(x) {value}: bool mask of x != value (labels != ignore_index, ids != pad).
StatusOr<std::vector<TensorType>> NotEqualShape(const ShapeInput& in) {
  TensorType t = in.operand(0);
  t.dtype = DType::kBool;
  return ops::One(std::move(t));
}

StatusOr<std::vector<TensorType>> CastShape(const ShapeInput& in) {
  TensorType t = in.operand(0);
  t.dtype = in.attrs.GetDType("dtype");
  return ops::One(std::move(t));
}

// dropout: _dropout_impl on the CPU: noise = empty_like(x).bernoulli_(); x * noise.
OpCost DropoutCost(const Node& n, const CostTarget& target) {
  OpCost c = ops::PerElementCost<3>(n, target);
  c.workspace = ops::Bytes(n.result(0));
  return c;
}

// cast to the same dtype returns x itself (`.to`); otherwise a dense x keeps
// its strides (ATen preserves a dense layout), anything else becomes contiguous.
ResultStrides CastStrides(const StridesInput& in) {
  const Node& n = in.node;
  if (n.operand(0)->dtype() == n.result(0)->dtype()) return {in.operand(0).strides, 0};
  if (IsDense(in.operand(0))) return {in.operand(0).strides};
  return FreshContiguous(in);
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  using ops::MakeOpDef;
  using ops::OptAttr;
  using ops::Req;
  using ops::ReqAttr;
  OpTraits ew{.elementwise = true};
  OpTraits ew_comm{.commutative = true, .elementwise = true};
  r.Register(MakeOpDef(OpKind::kAdd, "lhs + rhs", {Req("lhs"), Req("rhs")}, {}, &BinaryShape, ew_comm));
  r.Register(MakeOpDef(OpKind::kSub, "lhs - rhs", {Req("lhs"), Req("rhs")}, {}, &BinaryShape, ew));
  r.Register(MakeOpDef(OpKind::kMul, "lhs * rhs", {Req("lhs"), Req("rhs")}, {}, &BinaryShape, ew_comm));
  r.Register(MakeOpDef(OpKind::kDiv, "lhs / rhs", {Req("lhs"), Req("rhs")}, {}, &BinaryShape, ew));
  r.Register(MakeOpDef(OpKind::kNeg, "-x", {Req("x")}, {}, &NegShape, ew));
  r.Register(MakeOpDef(OpKind::kExp, "exp(x)", {Req("x")}, {}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kLog, "log(x)", {Req("x")}, {}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kRsqrt, "1/sqrt(x)", {Req("x")}, {}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kSqrt, "sqrt(x)", {Req("x")}, {}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kPow, "x ** exponent", {Req("x")},
                       {ReqAttr("exponent", AttrKind::kFloat)}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kSilu, "x * sigmoid(x)", {Req("x")}, {}, &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kGelu, "gelu(x), exact or tanh approximation", {Req("x")},
                       {OptAttr("approximate", AttrKind::kString)}, &GeluShape, ew));
  r.Register(MakeOpDef(OpKind::kSoftplus, "log(1 + exp(x)), x itself above 20", {Req("x")}, {},
                       &FloatUnaryShape, ew));
  r.Register(MakeOpDef(OpKind::kDropout, "zero elements with probability p, scale by 1/(1-p)",
                       {Req("x")}, {ReqAttr("p", AttrKind::kFloat)}, &DropoutShape,
                       OpTraits{.random = true, .elementwise = true}));
  r.Register(MakeOpDef(OpKind::kNotEqual, "x != value, elementwise, as bool", {Req("x")},
                       {ReqAttr("value", AttrKind::kFloat)}, &NotEqualShape,
                       OpTraits{.elementwise = true}));
  r.Register(MakeOpDef(OpKind::kCast, "convert elements to dtype", {Req("x")},
                       {ReqAttr("dtype", AttrKind::kDType)}, &CastShape, ew));
  // Sequence parallelism: the sharded dim passes through (with broadcasting).
  for (OpKind k : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kNeg,
                   OpKind::kExp, OpKind::kLog, OpKind::kRsqrt, OpKind::kSqrt, OpKind::kPow,
                   OpKind::kSilu, OpKind::kGelu, OpKind::kSoftplus, OpKind::kDropout, OpKind::kNotEqual,
                   OpKind::kCast}) {
    r.Mutable(k).seq_layout = &ops::SeqLayoutBroadcast;
  }
  // Precision: arithmetic and activations in the compute dtype; a mask
  // (bool result) and a user's explicit cast take what they are given.
  for (OpKind k : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kNeg,
                   OpKind::kExp, OpKind::kLog, OpKind::kRsqrt, OpKind::kSqrt, OpKind::kPow,
                   OpKind::kSilu, OpKind::kGelu, OpKind::kSoftplus, OpKind::kDropout}) {
    r.Mutable(k).precision = PrecisionRule::kLowPrecision;
  }
  r.Mutable(OpKind::kNotEqual).precision = PrecisionRule::kFollowOperands;
  r.Mutable(OpKind::kCast).precision = PrecisionRule::kFollowOperands;
  // Cost (FLOPs per element: a transcendental counts 4) and result strides:
  // TensorIterator orders the output like the operands.
  using ops::PerElementCost;
  using ops::SetCostAndStrides;
  for (OpKind k : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kNeg,
                   OpKind::kNotEqual}) {
    SetCostAndStrides(r, k, &PerElementCost<1>, &LikeOperands);
  }
  for (OpKind k : {OpKind::kExp, OpKind::kLog, OpKind::kRsqrt, OpKind::kSqrt, OpKind::kPow}) {
    SetCostAndStrides(r, k, &PerElementCost<4>, &LikeOperands);
  }
  SetCostAndStrides(r, OpKind::kSilu, &PerElementCost<5>, &LikeOperands);
  SetCostAndStrides(r, OpKind::kGelu, &PerElementCost<10>, &LikeOperands);
  SetCostAndStrides(r, OpKind::kSoftplus, &PerElementCost<8>, &LikeOperands);
  SetCostAndStrides(r, OpKind::kDropout, &DropoutCost, &LikeOperands);
  SetCostAndStrides(r, OpKind::kCast, &PerElementCost<1>, &CastStrides);
}

}  // namespace autosp::ir
