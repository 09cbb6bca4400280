// Where in the model code a node was created.
#pragma once

#include <cstdint>
#include <source_location>
#include <string>

#include <fmt/format.h>

namespace autosp::ir {

/// file:line of the model code that created a node; kept through passes.
/// Printed as `loc("llama.cc":88)`; line 0 means unknown (printed as nothing).
struct SourceLoc {
  std::string file;
  int32_t line = 0;

  bool known() const { return line > 0; }
  /// From the caller's location: `SourceLoc::From(std::source_location::current())`.
  static SourceLoc From(const std::source_location& l) {
    std::string f = l.file_name();
    return SourceLoc{std::move(f), static_cast<int32_t>(l.line())};
  }
  /// "llama.cc:88", or "<unknown>".
  std::string ToString() const { return known() ? fmt::format("{}:{}", file, line) : "<unknown>"; }
  bool operator==(const SourceLoc&) const = default;
};

}  // namespace autosp::ir
