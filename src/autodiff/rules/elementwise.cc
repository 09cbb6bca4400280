// Gradients of elementwise ops (broadcasting operands get their gradient
// summed back to their own shape).
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::OpKind;
using ir::Value;

Status AddSubGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  for (size_t i = 0; i < 2; ++i) {
    if (!ctx.needs_grad[i]) continue;
    AUTOSP_ASSIGN_OR_RETURN(Value * gi, ctx.SumTo(g, ctx.operand(i)));
    if (i == 1 && ctx.node.kind() == OpKind::kSub) {
      AUTOSP_ASSIGN_OR_RETURN(gi, ctx.Emit(OpKind::kNeg, {gi}));
    }
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, gi));
  }
  return Status::Ok();
}

Status MulGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  for (size_t i = 0; i < 2; ++i) {
    if (!ctx.needs_grad[i]) continue;
    AUTOSP_ASSIGN_OR_RETURN(Value * gi, ctx.Emit(OpKind::kMul, {g, ctx.operand(1 - i)}));
    AUTOSP_ASSIGN_OR_RETURN(gi, ctx.SumTo(gi, ctx.operand(i)));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, gi));
  }
  return Status::Ok();
}

// y = a / b: da = g / b; db = -g * y / b.
Status DivGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  Value* b = ctx.operand(1);
  AUTOSP_ASSIGN_OR_RETURN(Value * g_over_b, ctx.Emit(OpKind::kDiv, {g, b}));
  if (ctx.needs_grad[0]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * da, ctx.SumTo(g_over_b, ctx.operand(0)));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(0, da));
  }
  if (ctx.needs_grad[1]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * t, ctx.Emit(OpKind::kMul, {g_over_b, ctx.node.result(0)}));
    AUTOSP_ASSIGN_OR_RETURN(Value * db, ctx.Emit(OpKind::kNeg, {t}));
    AUTOSP_ASSIGN_OR_RETURN(db, ctx.SumTo(db, b));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(1, db));
  }
  return Status::Ok();
}

Status NegGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kNeg, {ctx.grad_outputs[0]}));
  return ctx.SetInputGrad(0, d);
}

// exp: g * y.
Status ExpGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Value * d,
                          ctx.Emit(OpKind::kMul, {ctx.grad_outputs[0], ctx.node.result(0)}));
  return ctx.SetInputGrad(0, d);
}

// log: g / x.
Status LogGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kDiv, {ctx.grad_outputs[0], ctx.operand(0)}));
  return ctx.SetInputGrad(0, d);
}

// rsqrt: y = x^-1/2, dy/dx = -y^3 / 2.
Status RsqrtGrad(GradContext& ctx) {
  Value* y = ctx.node.result(0);
  AUTOSP_ASSIGN_OR_RETURN(Value * y2, ctx.Emit(OpKind::kMul, {y, y}));
  AUTOSP_ASSIGN_OR_RETURN(Value * y3, ctx.Emit(OpKind::kMul, {y2, y}));
  AUTOSP_ASSIGN_OR_RETURN(Value * half, ctx.Scalar(-0.5, y->dtype()));
  AUTOSP_ASSIGN_OR_RETURN(Value * dydx, ctx.Emit(OpKind::kMul, {y3, half}));
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kMul, {ctx.grad_outputs[0], dydx}));
  return ctx.SetInputGrad(0, d);
}

// sqrt: g * 0.5 / y.
Status SqrtGrad(GradContext& ctx) {
  Value* y = ctx.node.result(0);
  AUTOSP_ASSIGN_OR_RETURN(Value * half, ctx.Scalar(0.5, y->dtype()));
  AUTOSP_ASSIGN_OR_RETURN(Value * t, ctx.Emit(OpKind::kMul, {ctx.grad_outputs[0], half}));
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kDiv, {t, y}));
  return ctx.SetInputGrad(0, d);
}

// pow(x, p): g * p * x^(p-1).
Status PowGrad(GradContext& ctx) {
  const double p = ctx.attrs().GetFloat("exponent");
  Value* x = ctx.operand(0);
  AUTOSP_ASSIGN_OR_RETURN(Value * xp, ctx.Emit(OpKind::kPow, {x}, {{"exponent", Attribute::Float(p - 1.0)}}));
  AUTOSP_ASSIGN_OR_RETURN(Value * scale, ctx.Scalar(p, x->dtype()));
  AUTOSP_ASSIGN_OR_RETURN(Value * t, ctx.Emit(OpKind::kMul, {xp, scale}));
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kMul, {ctx.grad_outputs[0], t}));
  return ctx.SetInputGrad(0, d);
}

Status SiluGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Value * d,
                          ctx.Emit(OpKind::kSiluBackward, {ctx.grad_outputs[0], ctx.operand(0)}));
  return ctx.SetInputGrad(0, d);
}

Status GeluGrad(GradContext& ctx) {
  ir::AttributeMap attrs;
  if (const Attribute* a = ctx.attrs().Find("approximate")) attrs.Set("approximate", *a);
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kGeluBackward,
                                              {ctx.grad_outputs[0], ctx.operand(0)}, attrs));
  return ctx.SetInputGrad(0, d);
}

// d softplus(x)/dx = sigmoid(x) = 1 - exp(-y), from the saved output y = softplus(x)
// (y >= 0, so exp(-y) never overflows): dx = g - g * exp(-y).
Status SoftplusGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  AUTOSP_ASSIGN_OR_RETURN(Value * neg_y, ctx.Emit(OpKind::kNeg, {ctx.node.result(0)}));
  AUTOSP_ASSIGN_OR_RETURN(Value * e, ctx.Emit(OpKind::kExp, {neg_y}));
  AUTOSP_ASSIGN_OR_RETURN(Value * ge, ctx.Emit(OpKind::kMul, {g, e}));
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kSub, {g, ge}));
  return ctx.SetInputGrad(0, d);
}

// Dropout's mask is read off its saved output (never re-drawn).
Status DropoutGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kDropoutBackward, {ctx.grad_outputs[0], ctx.node.result(0)},
                          {{"p", Attribute::Float(ctx.attrs().GetFloat("p"))}}));
  return ctx.SetInputGrad(0, d);
}

Status CastGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kCast, {ctx.grad_outputs[0]},
                          {{"dtype", Attribute::DTypeValue(ctx.operand(0)->dtype())}}));
  return ctx.SetInputGrad(0, d);
}

}  // namespace

void RegisterElementwiseGradRules(GradRegistry& r) {
  r.Register(OpKind::kAdd, &AddSubGrad);
  r.Register(OpKind::kSub, &AddSubGrad);
  r.Register(OpKind::kMul, &MulGrad);
  r.Register(OpKind::kDiv, &DivGrad);
  r.Register(OpKind::kNeg, &NegGrad);
  r.Register(OpKind::kExp, &ExpGrad);
  r.Register(OpKind::kLog, &LogGrad);
  r.Register(OpKind::kRsqrt, &RsqrtGrad);
  r.Register(OpKind::kSqrt, &SqrtGrad);
  r.Register(OpKind::kPow, &PowGrad);
  r.Register(OpKind::kSilu, &SiluGrad);
  r.Register(OpKind::kGelu, &GeluGrad);
  r.Register(OpKind::kSoftplus, &SoftplusGrad);
  r.Register(OpKind::kDropout, &DropoutGrad);
  r.Register(OpKind::kCast, &CastGrad);
  r.RegisterNotDifferentiable(OpKind::kNotEqual, "bool result");
}

}  // namespace autosp::autodiff
