#include "ir/dtype.h"

#include <array>

namespace autosp::ir {
namespace {

struct DTypeInfo {
  std::string_view name;
  int64_t size;
  bool floating;
  bool integer;
};

// Indexed by DType; a table rather than a switch so a new dtype is one line.
constexpr std::array<DTypeInfo, kNumDTypes> kDTypeInfo = {{
    {"f32", 4, true, false},
    {"bf16", 2, true, false},
    {"f16", 2, true, false},
    {"i64", 8, false, true},
    {"i32", 4, false, true},
    {"bool", 1, false, false},
}};

const DTypeInfo& Info(DType dtype) { return kDTypeInfo[static_cast<size_t>(dtype)]; }

}  // namespace

std::string_view DTypeName(DType dtype) { return Info(dtype).name; }

std::optional<DType> ParseDType(std::string_view name) {
  for (size_t i = 0; i < kDTypeInfo.size(); ++i) {
    if (kDTypeInfo[i].name == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}

int64_t DTypeSize(DType dtype) { return Info(dtype).size; }
bool IsFloatingPoint(DType dtype) { return Info(dtype).floating; }
bool IsInteger(DType dtype) { return Info(dtype).integer; }

}  // namespace autosp::ir
