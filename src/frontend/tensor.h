// autosp::Tensor: the handle model code computes with while a Tracer records
// its ops into an ir::Graph. See tracer.h for the tracing model and
// functional.h for the ops.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "ir/dim_expr.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "ir/tensor_type.h"

namespace autosp {

class Tracer;

/// A traced tensor: a cheap, copyable handle to an ir::Value of the graph its
/// Tracer builds. Three states:
///  * undefined: default-constructed, belongs to no tracer;
///  * live: refers to a value of the tracer's graph;
///  * poisoned: the op that should have produced it failed (the tracer holds
///    the error); ops that consume it are skipped and return poison too, so
///    model code runs to the end and Tracer::Finish() reports the first error.
/// The accessors never crash on a poisoned tensor: it reads as a scalar f32
/// whose every dim() is 1.
class Tensor {
 public:
  /// An undefined tensor.
  Tensor() = default;
  /// A live tensor (value != null) or a poisoned one (value == null).
  /// REQUIRES: tracer != null.
  Tensor(ir::Value* value, Tracer* tracer);
  /// A poisoned tensor of `tracer`.
  static Tensor Poison(Tracer* tracer) { return Tensor(nullptr, tracer); }

  /// Belongs to a tracer (live or poisoned).
  bool defined() const { return tracer_ != nullptr; }
  /// Produced by a failed op (see the class comment).
  bool poisoned() const { return tracer_ != nullptr && value_ == nullptr; }

  /// The value's type; f32[] when poisoned. REQUIRES: defined().
  const ir::TensorType& type() const;
  ir::DType dtype() const { return type().dtype; }
  int64_t rank() const { return type().rank(); }
  /// All dims.
  const std::vector<ir::DimExpr>& shape() const { return type().dims; }
  /// Dim i, negative i counting from the end. Out of range: the tracer
  /// records an error naming `loc` and 1 is returned (as for a poisoned tensor).
  ir::DimExpr dim(int64_t i, std::source_location loc = std::source_location::current()) const;

  /// The IR value; null when poisoned.
  ir::Value* value() const { return value_; }
  Tracer* tracer() const { return tracer_; }

  /// Sets the value's readable name hint ("q", "logits"; the printer makes it
  /// unique) and returns this tensor, for `Tensor q = Linear(...).Named("q")`.
  Tensor Named(std::string name) const;

 private:
  ir::Value* value_ = nullptr;
  Tracer* tracer_ = nullptr;
};

/// A value together with the source location of the expression that
/// produced it. Operators cannot take a defaulted `std::source_location`
/// parameter; they take a Located<T> operand instead, whose converting
/// constructor's default argument is evaluated at the user's expression:
///
///   Tensor operator+(const Tensor& a, const Located<Tensor>& b);
///   Tensor y = x + h;  // the add node records this line
template <typename T>
struct Located {
  Located(const T& v,  // NOLINT: implicit by design
          std::source_location l = std::source_location::current())
      : value(v), loc(l) {}
  T value;
  std::source_location loc;
};

}  // namespace autosp
