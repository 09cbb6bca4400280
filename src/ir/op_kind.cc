#include "ir/op_kind.h"

#include <array>

namespace autosp::ir {
namespace {

constexpr std::array<std::string_view, kNumOpKinds> kOpNames = {
#define AUTOSP_OP_NAME_(e, name) name,
    AUTOSP_OP_KINDS(AUTOSP_OP_NAME_)
#undef AUTOSP_OP_NAME_
};

}  // namespace

std::string_view OpKindName(OpKind kind) { return kOpNames[static_cast<size_t>(kind)]; }

std::optional<OpKind> ParseOpKind(std::string_view name) {
  for (size_t i = 0; i < kOpNames.size(); ++i) {
    if (kOpNames[i] == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

}  // namespace autosp::ir
