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

}  // namespace autosp::train
