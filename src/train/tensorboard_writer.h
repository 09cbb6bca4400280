// TensorBoard event files, written without TensorFlow or protobuf: the
// records are encoded by hand (the messages are small and fixed).
//
// File: OUTDIR/events.out.tfevents.<unix seconds>.<hostname>, a sequence of
// TFRecords:
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes |
//   data (length bytes)           | uint32 masked CRC32C of the data
// where masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 and CRC32C is
// the Castagnoli CRC (polynomial 0x1EDC6F41, reflected, init and final XOR
// 0xFFFFFFFF). Each record's data is one serialized `Event` message:
//   tensorflow.Event (tensorflow/core/util/event.proto)
//     1: double  wall_time     wire type 1 (8 bytes little-endian)
//     2: int64   step          wire type 0 (varint)
//     3: string  file_version  wire type 2 ("brain.Event:2", the first record only)
//     5: Summary summary       wire type 2
//   tensorflow.Summary (tensorflow/core/framework/summary.proto)
//     1: repeated Value value  wire type 2
//   tensorflow.Summary.Value
//     1: string tag            wire type 2
//     2: float  simple_value   wire type 5 (4 bytes little-endian)
// A field's key is the varint (field_number << 3) | wire_type; a wire type 2
// field is the key, the varint byte length, then the bytes.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "support/status.h"

namespace autosp::train {

/// CRC32C (Castagnoli) of `data`.
uint32_t Crc32c(std::string_view data);
/// TFRecord's masked CRC32C.
uint32_t MaskedCrc32c(std::string_view data);
/// `data` framed as one TFRecord.
std::string TfRecord(std::string_view data);
/// A serialized Event holding file_version "brain.Event:2".
std::string FileVersionEvent(double wall_time);
/// A serialized Event holding one scalar summary value.
std::string ScalarEvent(std::string_view tag, double value, int64_t step, double wall_time);

/// Appends scalar events to a new event file under a directory.
class EventFileWriter {
 public:
  /// Creates `dir` and a new event file in it (the file_version record first).
  static StatusOr<std::unique_ptr<EventFileWriter>> Open(const std::string& dir);

  /// One event; written to the OS at Flush.
  Status AddScalar(std::string_view tag, double value, int64_t step);
  Status Flush();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace autosp::train
