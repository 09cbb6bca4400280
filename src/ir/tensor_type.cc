#include "ir/tensor_type.h"

namespace autosp::ir {

std::string TensorType::ToString() const {
  std::string out(DTypeName(dtype));
  out += '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) out += ", ";
    out += dims[i].ToString();
  }
  out += ']';
  return out;
}

size_t TensorType::Hash() const {
  size_t h = static_cast<size_t>(dtype) * 0x9e3779b97f4a7c15ULL;
  for (const DimExpr& d : dims) h = (h ^ d.Hash()) * 0x100000001b3ULL;
  return h;
}

}  // namespace autosp::ir
