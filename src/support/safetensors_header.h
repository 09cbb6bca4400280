// Validating the header of a safetensors file (runtime/safetensors.h has the
// format) without LibTorch: the 8-byte length and the JSON header, checked
// completely (dtypes known, shapes that do not overflow, offsets inside the
// file, no two tensors overlapping) before any tensor byte is touched. Kept
// apart from the loader so that it can be fuzzed in the sanitizer build.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/status.h"

namespace autosp {

/// Headers larger than this are rejected, as the reference implementation does.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// Bytes per element of a safetensors dtype name ("F32" -> 4); nullopt for a
/// dtype autosp does not support. Supported: F64, F32, F16, BF16, I64, I32,
/// I16, I8, U8, BOOL.
std::optional<uint64_t> SafetensorsDTypeSize(std::string_view dtype);

/// One tensor's header entry after validation.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  ///< one of the supported names
  std::vector<int64_t> shape;
  uint64_t begin = 0;  ///< relative to the data section
  uint64_t end = 0;
};

/// The parsed, validated header of a safetensors file.
struct SafetensorsHeader {
  uint64_t data_start = 0;  ///< absolute byte offset of the data section
  std::vector<SafetensorsEntry> entries;  ///< by name
  std::map<std::string, std::string> metadata;
};

/// The header length that the first 8 bytes of a file of `file_size` bytes
/// give, checked against the file. `path` opens errors.
/// REQUIRES: first8.size() == 8 when file_size >= 8.
StatusOr<uint64_t> ParseSafetensorsHeaderLength(std::string_view first8, uint64_t file_size,
                                                const std::string& path);

/// Parses and validates the JSON header `header_json` (the bytes after the
/// length) of a file of `file_size` bytes. Errors name the file, the tensor
/// and the byte offset.
StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view header_json,
                                                   uint64_t file_size, const std::string& path);

}  // namespace autosp
