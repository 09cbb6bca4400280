// GradContext's helpers for the gradient rules.
#include "autodiff/grad_context.h"

namespace autosp::autodiff {

using ir::Attribute;
using ir::AttributeMap;
using ir::DType;
using ir::Node;
using ir::OpKind;
using ir::TensorType;
using ir::Value;

StatusOr<Value*> GradContext::Emit(OpKind kind, std::vector<Value*> operands, AttributeMap attrs,
                                   std::string name) {
  return builder.Emit(kind, std::move(operands), std::move(attrs), node.loc(), std::move(name));
}

StatusOr<Node*> GradContext::Create(OpKind kind, std::vector<Value*> operands,
                                    AttributeMap attrs) {
  return builder.Create(kind, std::move(operands), std::move(attrs), node.loc());
}

StatusOr<Value*> GradContext::Scalar(double value, DType dtype) {
  return Emit(OpKind::kFull, {},
              {{"shape", Attribute::Ints({})},
               {"value", Attribute::Float(value)},
               {"dtype", Attribute::DTypeValue(dtype)}});
}

StatusOr<Value*> GradContext::GradOrZeros(size_t i) {
  if (grad_outputs[i] != nullptr) return grad_outputs[i];
  const TensorType& t = node.result(i)->type();
  return Emit(OpKind::kFull, {},
              {{"shape", Attribute::Dims(t.dims)},
               {"value", Attribute::Float(0.0)},
               {"dtype", Attribute::DTypeValue(t.dtype)}});
}

StatusOr<Value*> GradContext::SumTo(Value* value, const Value* target) {
  const TensorType& from = value->type();
  const TensorType& to = target->type();
  bool same = from.rank() == to.rank();
  for (size_t i = 0; same && i < from.dims.size(); ++i) {
    same = dims().Equal(from.dims[i], to.dims[i]);
  }
  if (same) return value;
  return Emit(OpKind::kSumToShape, {value}, {{"shape", Attribute::Dims(to.dims)}});
}

Status GradContext::SetInputGrad(size_t i, Value* grad) {
  AUTOSP_CHECK(i < input_grads.size(), "operand {} of {}", i, node.op_name());
  const TensorType& want = node.operand(i)->type();
  const TensorType& got = grad->type();
  bool same = want.dtype == got.dtype && want.rank() == got.rank();
  for (size_t d = 0; same && d < want.dims.size(); ++d) same = dims().Equal(want.dims[d], got.dims[d]);
  if (!same) {
    return InternalError("gradient rule of {} produced {} for operand {} of type {} (at {})",
                         node.op_name(), got.ToString(), i, want.ToString(), node.loc().ToString());
  }
  input_grads[i] = grad;
  return Status::Ok();
}

}  // namespace autosp::autodiff
