// Gradients of embedding, linear, matmul.
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::OpKind;
using ir::Value;

// x [d0, ..., dk-1, n] -> [d0*...*dk-1, n]; unchanged when already 2-D.
StatusOr<Value*> Flatten2d(GradContext& ctx, Value* x) {
  if (x->rank() == 2) return x;
  const auto& dims = x->type().dims;
  DimExpr rows = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows = rows * dims[i];
  return ctx.Emit(OpKind::kReshape, {x}, {{"shape", Attribute::Dims({rows, dims.back()})}});
}

StatusOr<Value*> Transposed(GradContext& ctx, Value* x) {
  return ctx.Emit(OpKind::kTranspose, {x},
                  {{"dim0", Attribute::Int(-2)}, {"dim1", Attribute::Int(-1)}});
}

// embedding(ids, weight): only the weight is differentiable.
Status EmbeddingGrad(GradContext& ctx) {
  if (!ctx.needs_grad[1]) return Status::Ok();
  Value* weight = ctx.operand(1);
  std::optional<int64_t> rows = weight->type().dims[0].AsConstant();
  if (!rows) {
    return Unimplemented("embedding with a symbolic number of rows {} cannot be differentiated",
                         weight->type().ToString());
  }
  ir::AttributeMap attrs{{"num_weights", Attribute::Int(*rows)}};
  if (const Attribute* p = ctx.attrs().Find("padding_idx")) attrs.Set("padding_idx", *p);
  AUTOSP_ASSIGN_OR_RETURN(Value * g,
                          ctx.Emit(OpKind::kEmbeddingBackward, {ctx.grad_outputs[0], ctx.operand(0)},
                                   std::move(attrs)));
  return ctx.SetInputGrad(1, g);
}

// y = x w^T + b: dx = g w; dw = g2^T x2 (flattened over leading dims); db = sum(g).
Status LinearGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  Value* x = ctx.operand(0);
  Value* w = ctx.operand(1);
  if (ctx.needs_grad[0]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * dx, ctx.Emit(OpKind::kMatMul, {g, w}));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(0, dx));
  }
  if (ctx.needs_grad[1]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * g2, Flatten2d(ctx, g));
    AUTOSP_ASSIGN_OR_RETURN(Value * x2, Flatten2d(ctx, x));
    AUTOSP_ASSIGN_OR_RETURN(Value * g2t, Transposed(ctx, g2));
    AUTOSP_ASSIGN_OR_RETURN(Value * dw, ctx.Emit(OpKind::kMatMul, {g2t, x2}));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(1, dw));
  }
  if (ctx.num_operands() > 2 && ctx.needs_grad[2]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * db, ctx.SumTo(g, ctx.operand(2)));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(2, db));
  }
  return Status::Ok();
}

// y = a @ b (batched, broadcast batch dims): da = g b^T, db = a^T g, each
// summed back over broadcast batch dims. A 2-D b (a Conv1D weight) takes the
// flattened form db = a2^T g2, so no [batch, k, n] temporary is made.
Status MatMulGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  Value* a = ctx.operand(0);
  Value* b = ctx.operand(1);
  if (a->rank() < 2 || b->rank() < 2) {
    return Unimplemented("matmul with a 1-D operand ({} @ {}) has no gradient rule yet",
                         a->type().ToString(), b->type().ToString());
  }
  if (ctx.needs_grad[0]) {
    AUTOSP_ASSIGN_OR_RETURN(Value * bt, Transposed(ctx, b));
    AUTOSP_ASSIGN_OR_RETURN(Value * da, ctx.Emit(OpKind::kMatMul, {g, bt}));
    AUTOSP_ASSIGN_OR_RETURN(da, ctx.SumTo(da, a));
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(0, da));
  }
  if (ctx.needs_grad[1]) {
    Value* db = nullptr;
    if (b->rank() == 2) {
      AUTOSP_ASSIGN_OR_RETURN(Value * a2, Flatten2d(ctx, a));
      AUTOSP_ASSIGN_OR_RETURN(Value * g2, Flatten2d(ctx, g));
      AUTOSP_ASSIGN_OR_RETURN(Value * a2t, Transposed(ctx, a2));
      AUTOSP_ASSIGN_OR_RETURN(db, ctx.Emit(OpKind::kMatMul, {a2t, g2}));
    } else {
      AUTOSP_ASSIGN_OR_RETURN(Value * at, Transposed(ctx, a));
      AUTOSP_ASSIGN_OR_RETURN(db, ctx.Emit(OpKind::kMatMul, {at, g}));
      AUTOSP_ASSIGN_OR_RETURN(db, ctx.SumTo(db, b));
    }
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(1, db));
  }
  return Status::Ok();
}

}  // namespace

void RegisterLinalgGradRules(GradRegistry& r) {
  r.Register(OpKind::kEmbedding, &EmbeddingGrad);
  r.Register(OpKind::kLinear, &LinearGrad);
  r.Register(OpKind::kMatMul, &MatMulGrad);
}

}  // namespace autosp::autodiff
