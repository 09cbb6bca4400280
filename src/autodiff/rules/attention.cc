// Gradients of apply_rope and attention.
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::OpKind;
using ir::Value;

// RoPE is a rotation per (position, frequency) pair; its gradient is the
// inverse rotation of g.
Status ApplyRopeGrad(GradContext& ctx) {
  if (!ctx.needs_grad[0]) return Status::Ok();
  ir::AttributeMap attrs = ctx.attrs();
  attrs.Set("inverse", Attribute::Bool(!ctx.attrs().GetBoolOr("inverse", false)));
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kApplyRope, {ctx.grad_outputs[0], ctx.operand(1)}, attrs));
  return ctx.SetInputGrad(0, d);
}

// sdpa_forward(q, k, v, mask?) -> (out, lse): one fused backward for q, k, v.
// The mask is data, not differentiated.
Status SdpaForwardGrad(GradContext& ctx) {
  if (ctx.num_operands() > 3 && ctx.needs_grad[3]) {
    return Unimplemented("the attention mask depends on parameters; masks are not differentiable");
  }
  std::vector<Value*> operands{ctx.grad_outputs[0], ctx.operand(0), ctx.operand(1),
                               ctx.operand(2), ctx.node.result(0), ctx.node.result(1)};
  if (ctx.num_operands() > 3) operands.push_back(ctx.operand(3));
  AUTOSP_ASSIGN_OR_RETURN(ir::Node * n, ctx.Create(OpKind::kSdpaBackward, operands, ctx.attrs()));
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.needs_grad[i]) AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, n->result(i)));
  }
  return Status::Ok();
}

// segmented_sdpa_forward(q, k, v, segment_ids) -> (out, lse): one fused
// backward, per document like the forward; the segment ids are integer data.
Status SegmentedForwardGrad(GradContext& ctx) {
  std::vector<Value*> operands{ctx.grad_outputs[0], ctx.operand(0),     ctx.operand(1),
                               ctx.operand(2),      ctx.node.result(0), ctx.node.result(1),
                               ctx.operand(3)};
  AUTOSP_ASSIGN_OR_RETURN(ir::Node * n,
                          ctx.Create(OpKind::kSegmentedSdpaBackward, operands, ctx.attrs()));
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.needs_grad[i]) AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, n->result(i)));
  }
  return Status::Ok();
}

}  // namespace

void RegisterAttentionGradRules(GradRegistry& r) {
  r.Register(OpKind::kApplyRope, &ApplyRopeGrad);
  r.Register(OpKind::kSdpaForward, &SdpaForwardGrad);
  r.RegisterNotDifferentiable(OpKind::kScaledDotProductAttention,
                              "autodiff rewrites it into sdpa_forward first");
  r.RegisterNotDifferentiable(OpKind::kSdpaBackward, "backward op, emitted by autodiff");
  r.Register(OpKind::kSegmentedSdpaForward, &SegmentedForwardGrad);
  r.RegisterNotDifferentiable(OpKind::kSegmentedAttention,
                              "autodiff rewrites it into segmented_sdpa_forward first");
  r.RegisterNotDifferentiable(OpKind::kSegmentedSdpaBackward, "backward op, emitted by autodiff");
}

}  // namespace autosp::autodiff
