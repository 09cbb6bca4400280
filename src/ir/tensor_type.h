// The type of an IR value: element type plus symbolic shape.
#pragma once

#include <string>
#include <vector>

#include "ir/dim_expr.h"
#include "ir/dtype.h"

namespace autosp::ir {

/// dtype + dims. Printed as `f32[B, S, 4096]`; a scalar is `f32[]`.
struct TensorType {
  DType dtype = DType::kF32;
  std::vector<DimExpr> dims;

  TensorType() = default;
  TensorType(DType d, std::vector<DimExpr> shape) : dtype(d), dims(std::move(shape)) {}

  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  /// The element count, Product(dims).
  DimExpr NumElements() const { return Product(dims); }
  /// NumElements() * DTypeSize(dtype).
  DimExpr SizeInBytes() const { return NumElements() * DimExpr(DTypeSize(dtype)); }
  /// `f32[B, S, 4096]`.
  std::string ToString() const;
  /// Structural equality (same dtype, dims equal as canonical forms).
  bool operator==(const TensorType& o) const { return dtype == o.dtype && dims == o.dims; }
  size_t Hash() const;
};

}  // namespace autosp::ir
