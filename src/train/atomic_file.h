// Crash-safe writes: data goes to a temporary name in the same directory, is
// fsync'ed, then renamed over the final name (rename is atomic on POSIX), and
// the directory is fsync'ed so the rename itself survives a crash. A reader
// sees the old file or the new one, never a torn one.
#pragma once

#include <string>
#include <string_view>

#include "support/file.h"
#include "support/status.h"

namespace autosp::train {

/// Writes `bytes` to `path` atomically (see above).
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

/// fsyncs a file or directory (so a rename into it is durable).
Status FsyncPath(const std::string& path);

/// Renames `from` to `to` (atomic on POSIX; `to` must not be a non-empty
/// directory) and fsyncs the directory holding `to`.
Status RenameDurably(const std::string& from, const std::string& to);

/// Removes a file or a directory tree, one unlink at a time. Missing is not
/// an error.
Status RemoveTree(const std::string& path);

// Every rename and unlink above (and SaveSafetensors' rename) is a
// FileSystemFaultPoint (support/file.h): tests kill the process before each.

}  // namespace autosp::train
