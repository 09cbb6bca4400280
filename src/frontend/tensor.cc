#include "frontend/tensor.h"

#include "frontend/tracer.h"
#include "support/status.h"

namespace autosp {
namespace {

// What a poisoned tensor reads as (see Tensor).
const ir::TensorType& PoisonType() {
  static const ir::TensorType* type = new ir::TensorType(ir::DType::kF32, {});
  return *type;
}

}  // namespace

Tensor::Tensor(ir::Value* value, Tracer* tracer) : value_(value), tracer_(tracer) {
  AUTOSP_CHECK(tracer != nullptr, "a Tensor needs a tracer");
}

const ir::TensorType& Tensor::type() const {
  AUTOSP_CHECK(defined(), "type() of an undefined Tensor");
  return value_ == nullptr ? PoisonType() : value_->type();
}

ir::DimExpr Tensor::dim(int64_t i, std::source_location loc) const {
  AUTOSP_CHECK(defined(), "dim() of an undefined Tensor");
  if (value_ == nullptr) return 1;
  const int64_t r = rank();
  const int64_t k = i < 0 ? i + r : i;
  if (k < 0 || k >= r) {
    tracer_->RecordError(
        "Tensor::dim",
        InvalidArgument("dim {} is out of range for {} (rank {})", i, type().ToString(), r), loc);
    return 1;
  }
  return value_->type().dims[static_cast<size_t>(k)];
}

Tensor Tensor::Named(std::string name) const {
  if (value_ != nullptr) value_->set_name(std::move(name));
  return *this;
}

}  // namespace autosp
