#include "train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace autosp::train {

Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status(StatusCode::kUnavailable, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status(StatusCode::kUnavailable, fmt::format("fsync {}: {}", path, std::strerror(errno)));
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path final_path(path);
  const std::filesystem::path dir =
      final_path.has_parent_path() ? final_path.parent_path() : std::filesystem::path(".");
  const std::string tmp =
      (dir / fmt::format(".{}.tmp.{}", final_path.filename().string(), ::getpid())).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    return Status(StatusCode::kUnavailable, fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      return Status(StatusCode::kUnavailable, fmt::format("write {}: {}", tmp, err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::remove(tmp.c_str());
    return Status(StatusCode::kUnavailable, fmt::format("fsync {}: {}", tmp, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status(StatusCode::kUnavailable, fmt::format("rename {} -> {}: {}", tmp, path, err));
  }
  return FsyncPath(dir.string());
}

}  // namespace autosp::train
