// Gradients of the collectives.
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::OpKind;
using ir::Value;

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

void RegisterCollectiveGradRules(GradRegistry& r) {
  r.Register(OpKind::kAllToAll, &AllToAllGrad);
  r.Register(OpKind::kAllReduce, &AllReduceGrad);
  r.Register(OpKind::kAllGather, &AllGatherGrad);
  r.Register(OpKind::kReduceScatter, &ReduceScatterGrad);
  r.RegisterNotDifferentiable(OpKind::kLocalChunk,
                              "chunks data (attention masks) for SP; masks are not differentiated");
}

}  // namespace autosp::autodiff
