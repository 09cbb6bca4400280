// Fast content checksums (XXH3-64 from Debian's libxxhash) for checkpoint
// manifests: a flipped bit anywhere in a file changes its digest, so a
// corrupt file is named on load instead of training on it. Not a
// cryptographic hash: it guards against disks, copies and truncation, not
// against an adversary.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp {

/// XXH3-64 of bytes fed in pieces; equal to hashing them in one piece.
class StreamingHash {
 public:
  StreamingHash();
  ~StreamingHash();
  StreamingHash(const StreamingHash&) = delete;
  StreamingHash& operator=(const StreamingHash&) = delete;

  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// A file's size and XXH3-64.
struct FileDigest {
  uint64_t bytes = 0;
  uint64_t xxh3 = 0;
};

/// Reads `path` once, in pieces. Errors: kNotFound (missing, unreadable),
/// kUnavailable (a read failed).
StatusOr<FileDigest> HashFile(const std::string& path);

/// XXH3-64 of `size` bytes of `path` from `offset` (one tensor of a file).
StatusOr<uint64_t> HashFileRange(const std::string& path, uint64_t offset, uint64_t size);

/// A digest as 16 lowercase hex digits, and back (false when `hex` is not
/// 16 lowercase hex digits).
std::string HexDigest(uint64_t digest);
bool ParseHexDigest(std::string_view hex, uint64_t* digest);

}  // namespace autosp
