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

/// Test hook for crash-safety proofs: with AUTOSP_TEST_KILL_AT_FS_OP=k in the
/// environment, the k-th call in this process (counting from 1) _exit()s
/// with code 9 — a kill between two syscalls. Called just before each rename
/// and unlink of a checkpoint save (train/atomic_file.h, SaveSafetensors).
/// Unset: nothing happens.
void FileSystemFaultPoint();

}  // namespace autosp
