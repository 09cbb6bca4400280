#include "train/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace autosp::train {

Status RenameDurably(const std::string& from, const std::string& to) {
  FileSystemFaultPoint();
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("rename {} -> {}: {}", from, to, std::strerror(errno)));
  }
  const std::filesystem::path parent = std::filesystem::path(to).parent_path();
  return FsyncPath(parent.empty() ? "." : parent.string());
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(path, ec);
  if (ec || !std::filesystem::exists(status)) return Status::Ok();
  if (std::filesystem::is_directory(status)) {
    std::vector<std::string> children;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      children.push_back(entry.path().string());
    }
    if (ec) {
      return Status(StatusCode::kUnavailable, fmt::format("cannot list {}: {}", path, ec.message()));
    }
    for (const std::string& child : children) AUTOSP_RETURN_IF_ERROR(RemoveTree(child));
  }
  FileSystemFaultPoint();
  if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot remove {}: {}", path, std::strerror(errno)));
  }
  return Status::Ok();
}

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
  FileSystemFaultPoint();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    std::remove(tmp.c_str());
    return Status(StatusCode::kUnavailable, fmt::format("rename {} -> {}: {}", tmp, path, err));
  }
  return FsyncPath(dir.string());
}

}  // namespace autosp::train
