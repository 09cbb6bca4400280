// safetensors reading and writing. Reading validates the whole header before
// touching tensor bytes, so a corrupt or hostile file fails with a message
// instead of a crash or an oversized allocation. Writing goes through a
// temporary file + fsync + rename, so a crash never leaves a torn file.
#include "runtime/safetensors.h"
#include "support/checksum.h"
#include "support/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <ATen/ATen.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "runtime/hf_weights.h"
#include "support/safetensors_header.h"

namespace autosp::runtime {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian bytes; a big-endian host needs byte swapping");

struct DTypeEntry {
  std::string_view name;
  at::ScalarType type;
};
constexpr DTypeEntry kDTypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

std::optional<at::ScalarType> ParseDType(std::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.name == name) return e.type;
  }
  return std::nullopt;
}

std::optional<std::string_view> DTypeName(at::ScalarType type) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.type == type) return e.name;
  }
  return std::nullopt;
}

Status IoError(const std::string& what, const std::string& path) {
  return Status(StatusCode::kUnavailable,
                fmt::format("{} '{}': {}", what, path, std::strerror(errno)));
}

/// One tensor's header entry after validation, its dtype as LibTorch's.
struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // relative to the data section
  uint64_t end = 0;
};

struct Header {
  uint64_t data_start = 0;  // absolute byte offset of the data section
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

/// Reads and validates the header (support/safetensors_header.h does the
/// validating, without LibTorch, so that it can be fuzzed).
StatusOr<Header> ReadHeader(std::ifstream& in, const std::string& path, uint64_t file_size) {
  std::string len_bytes(8, '\0');
  if (file_size >= 8) {
    in.read(len_bytes.data(), 8);
    if (!in) return IoError("cannot read", path);
  }
  AUTOSP_ASSIGN_OR_RETURN(const uint64_t header_len,
                          ParseSafetensorsHeaderLength(len_bytes, file_size, path));
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  if (!in) return IoError("cannot read", path);
  AUTOSP_ASSIGN_OR_RETURN(SafetensorsHeader parsed, ParseSafetensorsHeader(text, file_size, path));

  Header h;
  h.data_start = parsed.data_start;
  h.metadata = std::move(parsed.metadata);
  for (SafetensorsEntry& e : parsed.entries) {
    const std::optional<at::ScalarType> dtype = ParseDType(e.dtype);
    AUTOSP_CHECK(dtype.has_value(), "safetensors dtype {} passed validation", e.dtype);
    h.entries.push_back({std::move(e.name), *dtype, std::move(e.shape), e.begin, e.end});
  }
  return h;
}

StatusOr<Header> OpenAndReadHeader(std::ifstream& in, const std::string& path) {
  std::error_code ec;
  uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return NotFound("cannot read safetensors file '{}': {}", path, ec.message());
  in.open(path, std::ios::binary);
  if (!in) return NotFound("cannot open safetensors file '{}'", path);
  return ReadHeader(in, path, file_size);
}

/// Writes all of `data` to `fd`, retrying short writes.
bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Status SaveSafetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Step 1: validate everything and build the header before creating a file.
  std::vector<at::Tensor> data;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      return InvalidArgument("{}: invalid tensor name '{}'", path, name);
    }
    if (!seen.insert(name).second) {
      return InvalidArgument("{}: tensor '{}' appears twice", path, name);
    }
    if (!tensor.defined()) return InvalidArgument("{}: tensor '{}' is undefined", path, name);
    std::optional<std::string_view> dtype = DTypeName(tensor.scalar_type());
    if (!dtype) {
      return Unimplemented("{}: tensor '{}' has dtype {}, which safetensors saving does not support",
                           path, name, c10::toString(tensor.scalar_type()));
    }
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    uint64_t bytes = t.nbytes();
    header[name] = {{"dtype", std::string(*dtype)},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string header_text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as HF's writer does.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(header_text.size() >> (8 * i));

  // Step 2: write a temporary file next to the target.
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string tmp = fmt::format("{}/.{}.tmp.XXXXXX", dir.string(), target.filename().string());
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return IoError("cannot create a temporary file for", path);
  auto fail = [&](const char* what) {
    Status s = IoError(what, path);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd, 0644) != 0) return fail("cannot set permissions of");
  if (!WriteAll(fd, len_bytes, 8) || !WriteAll(fd, header_text.data(), header_text.size())) {
    return fail("cannot write");
  }
  for (const at::Tensor& t : data) {
    if (!WriteAll(fd, t.data_ptr(), t.nbytes())) return fail("cannot write");
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (::close(fd) != 0) {
    Status s = IoError("cannot close", path);
    ::unlink(tmp.c_str());
    return s;
  }

  // Step 3: publish it. rename() is atomic within one file system.
  FileSystemFaultPoint();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = IoError("cannot rename the temporary file onto", path);
    ::unlink(tmp.c_str());
    return s;
  }
  // Make the rename itself durable; failure here is not worth failing the save.
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  return Status::Ok();
}

StatusOr<std::map<std::string, at::Tensor>> LoadSafetensors(const std::string& path) {
  std::ifstream in;
  AUTOSP_ASSIGN_OR_RETURN(Header h, OpenAndReadHeader(in, path));
  std::map<std::string, at::Tensor> out;
  for (const Entry& e : h.entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(h.data_start + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) {
        return Status(StatusCode::kUnavailable,
                      fmt::format("{}: cannot read tensor '{}' at byte {}", path, e.name,
                                  h.data_start + e.begin));
      }
    }
    out.emplace(e.name, std::move(t));
  }
  return out;
}

StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  std::ifstream in;
  AUTOSP_ASSIGN_OR_RETURN(Header h, OpenAndReadHeader(in, path));
  SafetensorsFile f;
  f.path_ = path;
  f.data_start_ = h.data_start;
  for (Entry& e : h.entries) {
    f.tensors_.push_back({std::move(e.name), e.dtype, std::move(e.shape)});
    f.ranges_.emplace_back(e.begin, e.end);
  }
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

StatusOr<at::Tensor> SafetensorsFile::Read(std::string_view name) const {
  size_t i = 0;
  while (i < tensors_.size() && tensors_[i].name != name) ++i;
  if (i == tensors_.size()) return NotFound("{}: no tensor '{}'", path_, name);
  const TensorInfo& info = tensors_[i];
  const auto [begin, end] = ranges_[i];
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(info.dtype));
  if (end == begin) return t;
  // Opened per read: a file that changed since Open is caught by the size check.
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path_, ec);
  if (ec || size < data_start_ + end) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("{}: the file changed since its header was read", path_));
  }
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + begin));
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(end - begin));
  if (!in) {
    return Status(StatusCode::kUnavailable, fmt::format("{}: cannot read tensor '{}' at byte {}",
                                                        path_, name, data_start_ + begin));
  }
  return t;
}

StatusOr<std::map<std::string, std::string>> LoadSafetensorsMetadata(const std::string& path) {
  std::ifstream in;
  AUTOSP_ASSIGN_OR_RETURN(Header h, OpenAndReadHeader(in, path));
  return h.metadata;
}

Status LoadParametersInto(const std::string& path, const std::vector<ExpectedTensor>& params,
                          std::map<std::string, at::Tensor>* out) {
  AUTOSP_CHECK(out != nullptr, "LoadParametersInto needs an output map");
  AUTOSP_ASSIGN_OR_RETURN(HfWeights weights, HfWeights::Open(path));
  std::map<std::string, at::Tensor> loaded;
  AUTOSP_ASSIGN_OR_RETURN(std::vector<std::string> ignored,
                          StreamParameters(weights, params, [&](size_t i, const at::Tensor& t) {
                            loaded.emplace(params[i].name, t);
                            return Status::Ok();
                          }));
  if (!ignored.empty()) {
    std::fprintf(stderr, "autosp: warning: %s: ignoring %zu tensor(s) that are not parameters: %s\n",
                 path.c_str(), ignored.size(), fmt::format("{}", fmt::join(ignored, ", ")).c_str());
  }
  for (auto& [name, t] : loaded) (*out)[name] = std::move(t);
  return Status::Ok();
}

StatusOr<std::map<std::string, uint64_t>> DigestSafetensorsTensors(const std::string& path) {
  std::ifstream in;
  AUTOSP_ASSIGN_OR_RETURN(Header h, OpenAndReadHeader(in, path));
  in.close();
  std::map<std::string, uint64_t> out;
  for (const Entry& e : h.entries) {
    AUTOSP_ASSIGN_OR_RETURN(out[e.name],
                            HashFileRange(path, h.data_start + e.begin, e.end - e.begin));
  }
  return out;
}

}  // namespace autosp::runtime
