// Byte sizes as users write them: "4096", "4K", "4KiB", "80GiB", "1.5G".
// K/M/G/T are binary (1024-based), as memory budgets and buffer sizes are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp {

/// Parses a byte size; the error names the text and the accepted forms.
StatusOr<int64_t> ParseBytes(std::string_view text);

/// 4096 -> "4KiB", 1536 -> "1.5KiB", 80 << 30 -> "80GiB".
std::string FormatBytes(double bytes);

}  // namespace autosp
