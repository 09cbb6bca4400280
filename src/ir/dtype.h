// Element types of tensors in the IR.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace autosp::ir {

/// The element type of a tensor. The text format spells these as in `DTypeName`.
enum class DType : uint8_t { kF32, kBF16, kF16, kI64, kI32, kBool };

/// Number of DType enumerators; keep in sync with the enum above.
inline constexpr int kNumDTypes = 6;

/// "f32", "bf16", "f16", "i64", "i32", "bool".
std::string_view DTypeName(DType dtype);

/// Inverse of DTypeName; nullopt for an unknown spelling.
std::optional<DType> ParseDType(std::string_view name);

/// Bytes per element (bool counts as one byte, as in ATen).
int64_t DTypeSize(DType dtype);

/// True for f32, bf16, f16.
bool IsFloatingPoint(DType dtype);

/// True for i64, i32.
bool IsInteger(DType dtype);

}  // namespace autosp::ir
