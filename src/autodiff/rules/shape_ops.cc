// Gradients of reshape, transpose, permute, expand, slice, cat, split.
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::OpKind;
using ir::Value;

int64_t NormalizedDim(const GradContext& ctx, std::string_view attr, int64_t rank) {
  const int64_t d = ctx.attrs().GetInt(attr);
  return d < 0 ? d + rank : d;
}

Status ReshapeGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kReshape, {ctx.grad_outputs[0]},
                          {{"shape", Attribute::Dims(ctx.operand(0)->type().dims)}}));
  return ctx.SetInputGrad(0, d);
}

Status TransposeGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kTranspose, {ctx.grad_outputs[0]},
                          {{"dim0", Attribute::Int(ctx.attrs().GetInt("dim0"))},
                           {"dim1", Attribute::Int(ctx.attrs().GetInt("dim1"))}}));
  return ctx.SetInputGrad(0, d);
}

// Result dim i is input dim perm[i]; the inverse sends it back.
Status PermuteGrad(GradContext& ctx) {
  std::vector<int64_t> perm = ctx.attrs().GetInts("dims");
  const int64_t rank = static_cast<int64_t>(perm.size());
  std::vector<int64_t> inverse(perm.size());
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t p = perm[static_cast<size_t>(i)] < 0 ? perm[static_cast<size_t>(i)] + rank
                                                       : perm[static_cast<size_t>(i)];
    inverse[static_cast<size_t>(p)] = i;
  }
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kPermute, {ctx.grad_outputs[0]},
                                              {{"dims", Attribute::Ints(inverse)}}));
  return ctx.SetInputGrad(0, d);
}

Status ExpandGrad(GradContext& ctx) {
  AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.SumTo(ctx.grad_outputs[0], ctx.operand(0)));
  return ctx.SetInputGrad(0, d);
}

Status SliceGrad(GradContext& ctx) {
  ir::AttributeMap attrs{{"input_shape", Attribute::Dims(ctx.operand(0)->type().dims)},
                         {"dim", Attribute::Int(ctx.attrs().GetInt("dim"))},
                         {"start", Attribute::Dim(ctx.attrs().GetDim("start"))},
                         {"end", Attribute::Dim(ctx.attrs().GetDim("end"))}};
  if (const Attribute* s = ctx.attrs().Find("step")) attrs.Set("step", *s);
  AUTOSP_ASSIGN_OR_RETURN(Value * d,
                          ctx.Emit(OpKind::kSliceBackward, {ctx.grad_outputs[0]}, std::move(attrs)));
  return ctx.SetInputGrad(0, d);
}

// cat: operand i's gradient is its slice of g.
Status CatGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  const int64_t dim = NormalizedDim(ctx, "dim", g->rank());
  DimExpr offset = 0;
  for (size_t i = 0; i < ctx.num_operands(); ++i) {
    const DimExpr size = ctx.operand(i)->type().dims[static_cast<size_t>(dim)];
    if (ctx.needs_grad[i]) {
      AUTOSP_ASSIGN_OR_RETURN(Value * d, ctx.Emit(OpKind::kSlice, {g},
                                                  {{"dim", Attribute::Int(dim)},
                                                   {"start", Attribute::Dim(offset)},
                                                   {"end", Attribute::Dim(offset + size)}}));
      AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, d));
    }
    offset = offset + size;
  }
  return Status::Ok();
}

// split: the pieces' gradients concatenated (zeros for unused pieces).
Status SplitGrad(GradContext& ctx) {
  std::vector<Value*> pieces;
  for (size_t r = 0; r < ctx.node.num_results(); ++r) {
    AUTOSP_ASSIGN_OR_RETURN(Value * g, ctx.GradOrZeros(r));
    pieces.push_back(g);
  }
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kCat, pieces,
                          {{"dim", Attribute::Int(ctx.attrs().GetInt("dim"))}}));
  return ctx.SetInputGrad(0, d);
}

}  // namespace

void RegisterShapeGradRules(GradRegistry& r) {
  r.Register(OpKind::kReshape, &ReshapeGrad);
  r.Register(OpKind::kTranspose, &TransposeGrad);
  r.Register(OpKind::kPermute, &PermuteGrad);
  r.Register(OpKind::kExpand, &ExpandGrad);
  r.Register(OpKind::kSlice, &SliceGrad);
  r.Register(OpKind::kCat, &CatGrad);
  r.Register(OpKind::kSplit, &SplitGrad);
}

}  // namespace autosp::autodiff
