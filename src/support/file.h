// Reading a whole input file the user names (configs, IR text, token files,
// text to tokenize) without trusting it: only regular files are read (a
// directory, /dev/zero or a FIFO is refused by type, never read without end),
// and the size is bounded before a byte is read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp {

/// The whole of `path`. `what` names the file in errors ("config file",
/// "IR file"). Errors: kNotFound (missing or unreadable), kInvalidArgument
/// (not a regular file, or larger than `max_bytes`).
StatusOr<std::string> ReadRegularFile(const std::string& path, std::string_view what,
                                      uint64_t max_bytes = uint64_t{1} << 32);

}  // namespace autosp
