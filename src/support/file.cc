#include "support/file.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace autosp {

StatusOr<std::string> ReadRegularFile(const std::string& path, std::string_view what,
                                      uint64_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return NotFound("cannot read {} '{}': no such file", what, path);
  if (fs::is_directory(st)) {
    return InvalidArgument("{} '{}' is a directory, not a file", what, path);
  }
  if (!fs::is_regular_file(st)) {
    return InvalidArgument("{} '{}' is not a regular file (a device, FIFO or socket is not read)",
                           what, path);
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return NotFound("cannot read {} '{}': {}", what, path, ec.message());
  if (size > max_bytes) {
    return InvalidArgument("{} '{}' is {} bytes; the limit is {}", what, path, size, max_bytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read {} '{}'", what, path);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) {
    return NotFound("cannot read {} '{}': it changed while being read", what, path);
  }
  return bytes;
}

void FileSystemFaultPoint() {
  static const int64_t kill_at = [] {
    const char* v = std::getenv("AUTOSP_TEST_KILL_AT_FS_OP");
    return v == nullptr ? int64_t{0} : std::atoll(v);
  }();
  static std::atomic<int64_t> ops{0};
  if (kill_at > 0 && ++ops == kill_at) ::_exit(9);
}

}  // namespace autosp
