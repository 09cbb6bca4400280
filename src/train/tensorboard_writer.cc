#include "train/tensorboard_writer.h"

#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <boost/crc.hpp>

namespace autosp::train {
namespace {

using Crc32cComputer = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void PutLittleEndian(std::string& out, T v) {
  static_assert(std::endian::native == std::endian::little, "little-endian hosts only");
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void PutKey(std::string& out, int field, int wire_type) {
  PutVarint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}

void PutBytes(std::string& out, int field, std::string_view bytes) {
  PutKey(out, field, 2);
  PutVarint(out, bytes.size());
  out.append(bytes);
}

/// Event fields 1 (wall_time) and 2 (step).
std::string EventHeader(double wall_time, int64_t step) {
  std::string event;
  PutKey(event, 1, 1);
  PutLittleEndian<double>(event, wall_time);
  PutKey(event, 2, 0);
  PutVarint(event, static_cast<uint64_t>(step));
  return event;
}

template <typename... Args>
Status IoError(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnavailable, fmt::format(f, std::forward<Args>(args)...));
}

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t Crc32c(std::string_view data) {
  Crc32cComputer crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

uint32_t MaskedCrc32c(std::string_view data) {
  const uint32_t crc = Crc32c(data);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string TfRecord(std::string_view data) {
  std::string length;
  PutLittleEndian<uint64_t>(length, data.size());
  std::string record = length;
  PutLittleEndian<uint32_t>(record, MaskedCrc32c(length));
  record.append(data);
  PutLittleEndian<uint32_t>(record, MaskedCrc32c(data));
  return record;
}

std::string FileVersionEvent(double wall_time) {
  std::string event = EventHeader(wall_time, 0);
  PutBytes(event, 3, "brain.Event:2");
  return event;
}

std::string ScalarEvent(std::string_view tag, double value, int64_t step, double wall_time) {
  std::string summary_value;
  PutBytes(summary_value, 1, tag);
  PutKey(summary_value, 2, 5);
  PutLittleEndian<float>(summary_value, static_cast<float>(value));
  std::string summary;
  PutBytes(summary, 1, summary_value);
  std::string event = EventHeader(wall_time, step);
  PutBytes(event, 5, summary);
  return event;
}

StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("tensorboard: cannot create directory {}: {}", dir, ec.message());
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  const double now = WallTime();
  auto writer = std::unique_ptr<EventFileWriter>(new EventFileWriter());
  // Two runs started in the same second get two files (TensorBoard reads all).
  for (int n = 0;; ++n) {
    writer->path_ = (std::filesystem::path(dir) /
                     fmt::format("events.out.tfevents.{}.{}{}", static_cast<int64_t>(now), host,
                                 n == 0 ? std::string() : fmt::format(".{}", n)))
                        .string();
    if (!std::filesystem::exists(writer->path_, ec)) break;
  }
  writer->out_.open(writer->path_, std::ios::binary | std::ios::trunc);
  if (!writer->out_) return IoError("tensorboard: cannot open {} for writing", writer->path_);
  writer->out_ << TfRecord(FileVersionEvent(now));
  AUTOSP_RETURN_IF_ERROR(writer->Flush());
  return writer;
}

Status EventFileWriter::AddScalar(std::string_view tag, double value, int64_t step) {
  out_ << TfRecord(ScalarEvent(tag, value, step, WallTime()));
  if (!out_) return IoError("tensorboard: cannot write {}", path_);
  return Status::Ok();
}

Status EventFileWriter::Flush() {
  out_.flush();
  if (!out_) return IoError("tensorboard: cannot write {}", path_);
  return Status::Ok();
}

}  // namespace autosp::train
