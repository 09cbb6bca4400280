// Gradients of apply_rope and attention, and of the collectives.
#include "autodiff/grad_context.h"
#include "autodiff/grad_rules.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::GradContext;
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

// all_to_all's gradient is the inverse all_to_all: split where it concatenated.
Status AllToAllGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kAllToAll, {ctx.grad_outputs[0]},
                          {{"axis", Attribute::String(ctx.attrs().GetString("axis"))},
                           {"split_dim", Attribute::Int(ctx.attrs().GetInt("concat_dim"))},
                           {"concat_dim", Attribute::Int(ctx.attrs().GetInt("split_dim"))}}));
  return ctx.SetInputGrad(0, d);
}

// A sum all-reduce whose result every rank then uses identically (the loss
// reduction the SP passes insert): each rank's input contributes once, so its
// gradient is the incoming gradient itself.
Status AllReduceGrad(GradContext& ctx) {
  const std::string op = ctx.attrs().GetStringOr("op", "sum");
  if (op != "sum") {
    return Unimplemented("all_reduce with op \"{}\" has no gradient rule (only \"sum\")", op);
  }
  return ctx.SetInputGrad(0, ctx.grad_outputs[0]);
}

// all_gather and reduce_scatter(sum) are each other's transposes.
Status AllGatherGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kReduceScatter, {ctx.grad_outputs[0]},
                          {{"axis", Attribute::String(ctx.attrs().GetString("axis"))},
                           {"dim", Attribute::Int(ctx.attrs().GetInt("dim"))},
                           {"op", Attribute::String("sum")}}));
  return ctx.SetInputGrad(0, d);
}

Status ReduceScatterGrad(GradContext& ctx) {
  const std::string op = ctx.attrs().GetStringOr("op", "sum");
  if (op != "sum") {
    return Unimplemented("reduce_scatter with op \"{}\" has no gradient rule (only \"sum\")", op);
  }
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kAllGather, {ctx.grad_outputs[0]},
                          {{"axis", Attribute::String(ctx.attrs().GetString("axis"))},
                           {"dim", Attribute::Int(ctx.attrs().GetInt("dim"))}}));
  return ctx.SetInputGrad(0, d);
}

}  // namespace

void RegisterAttentionGradRules(ir::OpRegistry& r) {
  r.Mutable(OpKind::kApplyRope).grad_rule = &ApplyRopeGrad;
  r.Mutable(OpKind::kSdpaForward).grad_rule = &SdpaForwardGrad;
}

void RegisterCollectiveGradRules(ir::OpRegistry& r) {
  r.Mutable(OpKind::kAllToAll).grad_rule = &AllToAllGrad;
  r.Mutable(OpKind::kAllReduce).grad_rule = &AllReduceGrad;
  r.Mutable(OpKind::kAllGather).grad_rule = &AllGatherGrad;
  r.Mutable(OpKind::kReduceScatter).grad_rule = &ReduceScatterGrad;
}

}  // namespace autosp::autodiff
