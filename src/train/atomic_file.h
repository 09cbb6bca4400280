// Crash-safe writes: data goes to a temporary name in the same directory, is
// fsync'ed, then renamed over the final name (rename is atomic on POSIX), and
// the directory is fsync'ed so the rename itself survives a crash. A reader
// sees the old file or the new one, never a torn one.
#pragma once

#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp::train {

/// Writes `bytes` to `path` atomically (see above).
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

/// fsyncs a file or directory (so a rename into it is durable).
Status FsyncPath(const std::string& path);

/// Renames `from` to `to` (atomic on POSIX; `to` must not be a non-empty
/// directory) and fsyncs the directory holding `to`.
Status RenameDurably(const std::string& from, const std::string& to);

/// Removes a file or a directory tree, one unlink at a time (each a fault
/// point, below). Missing is not an error.
Status RemoveTree(const std::string& path);

/// Test hook for crash-safety proofs: with AUTOSP_TEST_KILL_AT_FS_OP=k in the
/// environment, the k-th rename or unlink this process makes through the
/// functions above (counting from 1) _exit()s with code 9 just before it
/// happens — a kill between two syscalls. Unset: nothing happens.
void FileSystemFaultPoint();

}  // namespace autosp::train
