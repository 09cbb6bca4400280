#include "support/checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <xxhash.h>

namespace autosp {

struct StreamingHash::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

StreamingHash::StreamingHash() : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(state_->xxh);
}
StreamingHash::~StreamingHash() = default;

void StreamingHash::Update(const void* data, size_t size) {
  XXH3_64bits_update(state_->xxh, data, size);
}

uint64_t StreamingHash::Digest() const { return XXH3_64bits_digest(state_->xxh); }

namespace {

/// Feeds `size` bytes of `fd` from `offset` into `hash` (all of it when
/// `size` is UINT64_MAX); returns the bytes read.
StatusOr<uint64_t> HashFd(int fd, const std::string& path, uint64_t offset, uint64_t size,
                          StreamingHash* hash) {
  constexpr size_t kPiece = size_t{4} << 20;
  std::vector<char> buffer(kPiece);
  uint64_t done = 0;
  while (done < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kPiece, size - done));
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(StatusCode::kUnavailable,
                    fmt::format("read {}: {}", path, std::strerror(errno)));
    }
    if (n == 0) break;  // end of file
    hash->Update(buffer.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return done;
}

class Fd {
 public:
  explicit Fd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

StatusOr<FileDigest> HashFile(const std::string& path) {
  Fd fd(path);
  if (fd.get() < 0) return NotFound("cannot open {}: {}", path, std::strerror(errno));
  StreamingHash hash;
  AUTOSP_ASSIGN_OR_RETURN(uint64_t bytes, HashFd(fd.get(), path, 0, UINT64_MAX, &hash));
  return FileDigest{bytes, hash.Digest()};
}

StatusOr<uint64_t> HashFileRange(const std::string& path, uint64_t offset, uint64_t size) {
  Fd fd(path);
  if (fd.get() < 0) return NotFound("cannot open {}: {}", path, std::strerror(errno));
  StreamingHash hash;
  AUTOSP_ASSIGN_OR_RETURN(uint64_t got, HashFd(fd.get(), path, offset, size, &hash));
  if (got != size) {
    return Status(
        StatusCode::kUnavailable,
        fmt::format("{}: {} bytes at {} run past the end of the file", path, size, offset));
  }
  return hash.Digest();
}

std::string HexDigest(uint64_t digest) { return fmt::format("{:016x}", digest); }

bool ParseHexDigest(std::string_view hex, uint64_t* digest) {
  if (hex.size() != 16) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), *digest, 16);
  return ec == std::errc() && end == hex.data() + hex.size();
}

}  // namespace autosp
