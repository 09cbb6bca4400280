// Gradients of softmax, log_softmax, sum, mean, rms_norm, layer_norm, cross_entropy,
// lm_head_cross_entropy.
#include "autodiff/grad_context.h"
#include "autodiff/grad_registry.h"

namespace autosp::autodiff {
namespace {

using ir::Attribute;
using ir::DimExpr;
using ir::OpKind;
using ir::Value;

Status SoftmaxGrad(GradContext& ctx) {
  const OpKind bwd = ctx.node.kind() == OpKind::kSoftmax ? OpKind::kSoftmaxBackward
                                                         : OpKind::kLogSoftmaxBackward;
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(bwd, {ctx.grad_outputs[0], ctx.node.result(0)},
                          {{"dim", Attribute::Int(ctx.attrs().GetInt("dim"))}}));
  return ctx.SetInputGrad(0, d);
}

// The reduced dims of a sum/mean, normalized; all dims when the list is empty.
std::vector<bool> ReducedDims(const GradContext& ctx) {
  const int64_t rank = ctx.operand(0)->rank();
  std::vector<int64_t> dims = ctx.attrs().GetInts("dims");
  std::vector<bool> reduced(static_cast<size_t>(rank), dims.empty());
  for (int64_t d : dims) reduced[static_cast<size_t>(d < 0 ? d + rank : d)] = true;
  return reduced;
}

// sum: reshape g to the keepdim shape, then expand to x's shape.
Status SumGrad(GradContext& ctx) {
  Value* g = ctx.grad_outputs[0];
  Value* x = ctx.operand(0);
  const std::vector<bool> reduced = ReducedDims(ctx);
  if (!ctx.attrs().GetBoolOr("keepdim", false)) {
    std::vector<DimExpr> kept;
    for (size_t i = 0; i < reduced.size(); ++i) {
      kept.push_back(reduced[i] ? DimExpr(1) : x->type().dims[i]);
    }
    AUTOSP_ASSIGN_OR_RETURN(g, ctx.Emit(OpKind::kReshape, {g}, {{"shape", Attribute::Dims(kept)}}));
  }
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kExpand, {g}, {{"shape", Attribute::Dims(x->type().dims)}}));
  return ctx.SetInputGrad(0, d);
}

Status MeanGrad(GradContext& ctx) {
  ir::AttributeMap attrs{{"input_shape", Attribute::Dims(ctx.operand(0)->type().dims)},
                         {"dims", Attribute::Ints(ctx.attrs().GetInts("dims"))}};
  if (ctx.attrs().GetBoolOr("keepdim", false)) attrs.Set("keepdim", Attribute::Bool(true));
  AUTOSP_ASSIGN_OR_RETURN(Value * d,
                          ctx.Emit(OpKind::kMeanBackward, {ctx.grad_outputs[0]}, std::move(attrs)));
  return ctx.SetInputGrad(0, d);
}

// rms_norm / layer_norm: one backward kernel gives every operand's gradient.
Status NormGrad(GradContext& ctx) {
  const OpKind bwd = ctx.node.kind() == OpKind::kRmsNorm ? OpKind::kRmsNormBackward
                                                         : OpKind::kLayerNormBackward;
  std::vector<Value*> operands{ctx.grad_outputs[0]};
  for (size_t i = 0; i < ctx.num_operands(); ++i) operands.push_back(ctx.operand(i));
  AUTOSP_ASSIGN_OR_RETURN(
      ir::Node * n, ctx.Create(bwd, operands, {{"eps", Attribute::Float(ctx.attrs().GetFloat("eps"))}}));
  for (size_t i = 0; i < ctx.num_operands(); ++i) {
    if (ctx.needs_grad[i]) AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, n->result(i)));
  }
  return Status::Ok();
}

Status CrossEntropyGrad(GradContext& ctx) {
  if (!ctx.needs_grad[0]) return Status::Ok();
  ir::AttributeMap attrs;
  if (const Attribute* a = ctx.attrs().Find("ignore_index")) attrs.Set("ignore_index", *a);
  if (const Attribute* a = ctx.attrs().Find("reduction")) attrs.Set("reduction", *a);
  AUTOSP_ASSIGN_OR_RETURN(
      Value * d, ctx.Emit(OpKind::kCrossEntropyBackward,
                          {ctx.grad_outputs[0], ctx.operand(0), ctx.operand(1)}, std::move(attrs)));
  return ctx.SetInputGrad(0, d);
}

// The fused head's backward recomputes each chunk's logits: one op gives
// d hidden, d weight and d bias, never the [.., V] logits or their gradient.
Status LmHeadCrossEntropyGrad(GradContext& ctx) {
  std::vector<Value*> operands{ctx.grad_outputs[0]};
  for (size_t i = 0; i < ctx.num_operands(); ++i) operands.push_back(ctx.operand(i));
  ir::AttributeMap attrs{{"chunk_tokens", Attribute::Int(ctx.attrs().GetInt("chunk_tokens"))}};
  if (const Attribute* a = ctx.attrs().Find("ignore_index")) attrs.Set("ignore_index", *a);
  if (const Attribute* a = ctx.attrs().Find("reduction")) attrs.Set("reduction", *a);
  AUTOSP_ASSIGN_OR_RETURN(
      ir::Node * n, ctx.Create(OpKind::kLmHeadCrossEntropyBackward, operands, std::move(attrs)));
  // Results: d hidden, d weight, d bias; operand 2 (labels) has none.
  const size_t result_of[] = {0, 1, 0, 2};
  for (size_t i = 0; i < ctx.num_operands(); ++i) {
    if (i == 2 || !ctx.needs_grad[i]) continue;
    AUTOSP_RETURN_IF_ERROR(ctx.SetInputGrad(i, n->result(result_of[i])));
  }
  return Status::Ok();
}

}  // namespace

void RegisterReductionGradRules(GradRegistry& r) {
  r.Register(OpKind::kSoftmax, &SoftmaxGrad);
  r.Register(OpKind::kLogSoftmax, &SoftmaxGrad);
  r.Register(OpKind::kSum, &SumGrad);
  r.Register(OpKind::kMean, &MeanGrad);
  r.Register(OpKind::kRmsNorm, &NormGrad);
  r.Register(OpKind::kLayerNorm, &NormGrad);
  r.Register(OpKind::kCrossEntropy, &CrossEntropyGrad);
  r.Register(OpKind::kLmHeadCrossEntropy, &LmHeadCrossEntropyGrad);
}

}  // namespace autosp::autodiff
