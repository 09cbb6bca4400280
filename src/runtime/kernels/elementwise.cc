// Kernels of src/ir/ops/elementwise.cc. Operands have one dtype (the shape
// functions check it), so ATen's type promotion never changes a result type,
// except integer division, which the IR defines as floor division.
#include <ATen/ATen.h>

#include "runtime/kernel_registry.h"

namespace autosp::runtime {
namespace {

using ir::OpKind;

template <at::Tensor (*Fn)(const at::Tensor&, const at::Tensor&)>
Status Binary(KernelContext& ctx) {
  ctx.Output(Fn(ctx.input(0), ctx.input(1)));
  return Status::Ok();
}

template <at::Tensor (*Fn)(const at::Tensor&)>
Status Unary(KernelContext& ctx) {
  ctx.Output(Fn(ctx.input(0)));
  return Status::Ok();
}

at::Tensor AddFn(const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }
at::Tensor SubFn(const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }
at::Tensor MulFn(const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }
at::Tensor DivFn(const at::Tensor& a, const at::Tensor& b) {
  if (at::isIntegralType(a.scalar_type(), /*includeBool=*/false)) {
    return at::div(a, b, /*rounding_mode=*/"floor");
  }
  return at::div(a, b);
}
at::Tensor NegFn(const at::Tensor& x) { return at::neg(x); }
at::Tensor ExpFn(const at::Tensor& x) { return at::exp(x); }
at::Tensor LogFn(const at::Tensor& x) { return at::log(x); }
at::Tensor RsqrtFn(const at::Tensor& x) { return at::rsqrt(x); }
at::Tensor SqrtFn(const at::Tensor& x) { return at::sqrt(x); }
at::Tensor SiluFn(const at::Tensor& x) { return at::silu(x); }
// PyTorch's defaults (beta 1, threshold 20), as torch.nn.functional.softplus.
at::Tensor SoftplusFn(const at::Tensor& x) { return at::softplus(x, 1, 20); }

Status Pow(KernelContext& ctx) {
  ctx.Output(at::pow(ctx.input(0), ctx.attrs().GetFloat("exponent")));
  return Status::Ok();
}

Status Gelu(KernelContext& ctx) {
  ctx.Output(at::gelu(ctx.input(0), ctx.attrs().GetStringOr("approximate", "none")));
  return Status::Ok();
}

// Training-mode dropout with ATen's default generator (seed it for
// reproducible masks); dropout_backward recovers the mask from the output.
Status Dropout(KernelContext& ctx) {
  ctx.Output(at::dropout(ctx.input(0), ctx.attrs().GetFloat("p"), /*train=*/true));
  return Status::Ok();
}

// not_equal(x) {value}: a bool mask; for integer x the value compares exactly
// (ATen compares a long tensor with a double scalar in the tensor's type).
Status NotEqual(KernelContext& ctx) {
  const at::Tensor& x = ctx.input(0);
  const double value = ctx.attrs().GetFloat("value");
  if (at::isIntegralType(x.scalar_type(), /*includeBool=*/true)) {
    ctx.Output(x.ne(static_cast<int64_t>(value)));
  } else {
    ctx.Output(x.ne(value));
  }
  return Status::Ok();
}

Status Cast(KernelContext& ctx) {
  ctx.Output(ctx.input(0).to(ToScalarType(ctx.attrs().GetDType("dtype"))));
  return Status::Ok();
}

}  // namespace

void RegisterElementwiseKernels(KernelRegistry& r) {
  r.Register(OpKind::kAdd, &Binary<&AddFn>);
  r.Register(OpKind::kSub, &Binary<&SubFn>);
  r.Register(OpKind::kMul, &Binary<&MulFn>);
  r.Register(OpKind::kDiv, &Binary<&DivFn>);
  r.Register(OpKind::kNeg, &Unary<&NegFn>);
  r.Register(OpKind::kExp, &Unary<&ExpFn>);
  r.Register(OpKind::kLog, &Unary<&LogFn>);
  r.Register(OpKind::kRsqrt, &Unary<&RsqrtFn>);
  r.Register(OpKind::kSqrt, &Unary<&SqrtFn>);
  r.Register(OpKind::kPow, &Pow);
  r.Register(OpKind::kSilu, &Unary<&SiluFn>);
  r.Register(OpKind::kGelu, &Gelu);
  r.Register(OpKind::kSoftplus, &Unary<&SoftplusFn>);
  r.Register(OpKind::kDropout, &Dropout);
  r.Register(OpKind::kNotEqual, &NotEqual);
  r.Register(OpKind::kCast, &Cast);
}

}  // namespace autosp::runtime
