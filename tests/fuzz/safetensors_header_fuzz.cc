// libFuzzer target: the input is a whole safetensors file. What validates
// must be safe to read: every tensor inside the data section, its byte size
// equal to shape x dtype, no two non-empty tensors sharing a byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "support/safetensors_header.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  const std::string path = "fuzz.safetensors";
  autosp::StatusOr<uint64_t> header_len =
      autosp::ParseSafetensorsHeaderLength(file.substr(0, 8), size, path);
  if (!header_len.ok()) {
    FUZZ_CHECK(!header_len.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  FUZZ_CHECK(8 + *header_len <= size, "the header lies inside the file");
  autosp::StatusOr<autosp::SafetensorsHeader> header =
      autosp::ParseSafetensorsHeader(file.substr(8, *header_len), size, path);
  if (!header.ok()) {
    FUZZ_CHECK(!header.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  FUZZ_CHECK(header->data_start == 8 + *header_len, "data follows the header");
  const auto& entries = header->entries;
  for (const autosp::SafetensorsEntry& e : entries) {
    FUZZ_CHECK(e.begin <= e.end && header->data_start + e.end <= size, "tensor inside the file");
    const std::optional<uint64_t> element = autosp::SafetensorsDTypeSize(e.dtype);
    FUZZ_CHECK(element.has_value(), "dtype supported");
    unsigned __int128 bytes = *element;
    for (int64_t d : e.shape) bytes *= static_cast<uint64_t>(d);
    FUZZ_CHECK(bytes == e.end - e.begin, "byte size = shape x dtype");
  }
  // Quadratic, so only for small headers: what the loader relies on.
  if (entries.size() <= 64) {
    for (size_t i = 0; i < entries.size(); ++i) {
      for (size_t j = i + 1; j < entries.size(); ++j) {
        const auto& a = entries[i];
        const auto& b = entries[j];
        const bool empty = a.begin == a.end || b.begin == b.end;
        FUZZ_CHECK(empty || a.end <= b.begin || b.end <= a.begin, "tensors do not overlap");
      }
    }
  }
  return 0;
}
