#include "support/safetensors_header.h"

#include <algorithm>
#include <limits>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace autosp {
namespace {

using Json = nlohmann::json;

struct DTypeSize {
  std::string_view name;
  uint64_t bytes;
};
constexpr DTypeSize kDTypeSizes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace

std::optional<uint64_t> SafetensorsDTypeSize(std::string_view dtype) {
  for (const DTypeSize& d : kDTypeSizes) {
    if (d.name == dtype) return d.bytes;
  }
  return std::nullopt;
}

StatusOr<uint64_t> ParseSafetensorsHeaderLength(std::string_view first8, uint64_t file_size,
                                                const std::string& path) {
  if (file_size < 8) {
    return InvalidArgument("{}: {} bytes is too short for a safetensors file (no header length)",
                           path, file_size);
  }
  AUTOSP_CHECK(first8.size() == 8, "a safetensors header length is 8 bytes");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(first8[i]);
  if (header_len > kMaxSafetensorsHeaderBytes || header_len > file_size - 8) {
    return InvalidArgument(
        "{}: header length {} (at byte 0) runs past the end of the file ({} bytes)", path,
        header_len, file_size);
  }
  return header_len;
}

StatusOr<SafetensorsHeader> ParseSafetensorsHeader(std::string_view header_json,
                                                   uint64_t file_size, const std::string& path) {
  AUTOSP_CHECK(8 + header_json.size() <= file_size, "the header lies inside the file");
  Json root;
  try {
    root = Json::parse(header_json);
  } catch (const Json::parse_error& e) {
    return ParseError("{}: invalid JSON header at byte {}: {}", path, 8 + e.byte, e.what());
  } catch (const Json::out_of_range& e) {
    // A number beyond a double ("1e400") is out_of_range, not a parse_error.
    return ParseError("{}: invalid JSON header: {}", path, e.what());
  }
  if (!root.is_object()) return InvalidArgument("{}: the header is not a JSON object", path);

  SafetensorsHeader h;
  h.data_start = 8 + header_json.size();
  const uint64_t data_size = file_size - h.data_start;
  for (const auto& [name, j] : root.items()) {
    if (name == "__metadata__") {
      if (!j.is_object()) return InvalidArgument("{}: \"__metadata__\" is not an object", path);
      for (const auto& [k, v] : j.items()) {
        if (!v.is_string()) {
          return InvalidArgument("{}: \"__metadata__\" value of '{}' is not a string", path, k);
        }
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") ||
        !j.contains("data_offsets")) {
      return InvalidArgument(
          "{}: tensor '{}': header entry needs \"dtype\", \"shape\" and \"data_offsets\", got {}",
          path, name, j.dump());
    }
    SafetensorsEntry e;
    e.name = name;
    const Json& dtype = j.at("dtype");
    const std::optional<uint64_t> element_size =
        dtype.is_string() ? SafetensorsDTypeSize(dtype.get<std::string>()) : std::nullopt;
    if (!element_size) {
      return Unimplemented(
          "{}: tensor '{}': unsupported dtype {}; supported: F64, F32, F16, BF16, I64, I32, I16, "
          "I8, U8, BOOL",
          path, name, dtype.dump());
    }
    e.dtype = dtype.get<std::string>();
    const Json& shape = j.at("shape");
    if (!shape.is_array()) {
      return InvalidArgument("{}: tensor '{}': \"shape\" is not a list, got {}", path, name,
                             shape.dump());
    }
    // Element count with overflow checks: a hostile shape must not wrap around.
    uint64_t bytes = *element_size;
    for (const Json& d : shape) {
      if (!d.is_number_unsigned()) {
        return InvalidArgument("{}: tensor '{}': bad dimension {} in shape {}", path, name,
                               d.dump(), shape.dump());
      }
      uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / dim)) {
        return InvalidArgument("{}: tensor '{}': shape {} is too large", path, name,
                               shape.dump());
      }
      bytes *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const Json& offsets = j.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets.at(0).is_number_unsigned() ||
        !offsets.at(1).is_number_unsigned()) {
      return InvalidArgument("{}: tensor '{}': \"data_offsets\" must be [begin, end], got {}",
                             path, name, offsets.dump());
    }
    e.begin = offsets.at(0).get<uint64_t>();
    e.end = offsets.at(1).get<uint64_t>();
    if (e.begin > e.end) {
      return InvalidArgument("{}: tensor '{}': data_offsets [{}, {}] end before they begin", path,
                             name, e.begin, e.end);
    }
    if (e.end > data_size) {
      return InvalidArgument(
          "{}: tensor '{}': data ends at byte {} (data_offsets [{}, {}]), past the end of the "
          "file ({} bytes)",
          path, name, h.data_start + e.end, e.begin, e.end, file_size);
    }
    if (e.end - e.begin != bytes) {
      return InvalidArgument(
          "{}: tensor '{}' ({} {}) needs {} bytes, but data_offsets [{}, {}] at byte {} hold {}",
          path, name, e.dtype, ShapeString(e.shape), bytes, e.begin, e.end,
          h.data_start + e.begin, e.end - e.begin);
    }
    h.entries.push_back(std::move(e));
  }

  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : h.entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  // Compare each tensor with the one reaching furthest before it, not just
  // its neighbour: an empty tensor between two overlapping ones hides nothing.
  const SafetensorsEntry* furthest = nullptr;
  for (const SafetensorsEntry* next : by_offset) {
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (next->begin == next->end) continue;
    if (furthest != nullptr && next->begin < furthest->end) {
      return InvalidArgument("{}: tensors '{}' and '{}' overlap at byte {}", path, furthest->name,
                             next->name, h.data_start + next->begin);
    }
    if (furthest == nullptr || next->end > furthest->end) furthest = next;
  }
  return h;
}

}  // namespace autosp
