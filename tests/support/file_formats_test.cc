// The LibTorch-free parsers of untrusted files: safetensors headers, .tok and
// .npy token files, trainer_state.json. The regression cases here were found
// by reading the code while moving it out of LibTorch-linked files, or by the
// fuzz targets (tests/fuzz; each input is also a seed in its corpus).
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "support/safetensors_header.h"
#include "support/token_file_format.h"
#include "support/trainer_state_json.h"

namespace autosp {
namespace {

/// A whole safetensors file: length, header, `data_bytes` zero bytes.
std::string Safetensors(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

std::string HeaderError(const std::string& file) {
  StatusOr<uint64_t> len = ParseSafetensorsHeaderLength(std::string_view(file).substr(0, 8),
                                                         file.size(), "t.safetensors");
  if (!len.ok()) return len.status().message();
  StatusOr<SafetensorsHeader> h =
      ParseSafetensorsHeader(std::string_view(file).substr(8, *len), file.size(), "t.safetensors");
  return h.ok() ? "ok" : h.status().message();
}

TEST(SafetensorsHeaderTest, ValidHeaderGivesEntriesByName) {
  const std::string file = Safetensors(
      R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, "e": {"dtype": "U8", "shape": [0], "data_offsets": [24, 24]}})",
      24);
  StatusOr<SafetensorsHeader> h =
      ParseSafetensorsHeader(std::string_view(file).substr(8, file.size() - 8 - 24), file.size(), "t");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->metadata.at("format"), "pt");
  ASSERT_EQ(h->entries.size(), 2u);
  EXPECT_EQ(h->entries[0].name, "e");
  EXPECT_EQ(h->entries[1].name, "w");
  EXPECT_EQ(h->entries[1].dtype, "F32");
  EXPECT_EQ(h->entries[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(h->entries[1].end, 24u);
  EXPECT_EQ(SafetensorsDTypeSize("BF16"), 2u);
  EXPECT_FALSE(SafetensorsDTypeSize("F8").has_value());
}

// Only neighbours were compared: an empty tensor sorted between two
// overlapping ones hid the overlap.
TEST(SafetensorsHeaderTest, OverlapBehindAnEmptyTensor) {
  const std::string header =
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  EXPECT_EQ(HeaderError(Safetensors(header, 16)),
            "t.safetensors: tensors 'a' and 'b' overlap at byte " + std::to_string(8 + header.size() + 4));
}

// Found by safetensors_header_fuzz: a number beyond a double escaped as an
// uncaught nlohmann out_of_range.
TEST(SafetensorsHeaderTest, NumberBeyondADoubleIsAParseError) {
  EXPECT_EQ(HeaderError(Safetensors(R"({"a": {"shape": [1e999]}})", 0)),
            "t.safetensors: invalid JSON header: [json.exception.out_of_range.406] number "
            "overflow parsing '1e999'");
}

std::string Npy(const std::string& header, const std::string& data = "") {
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

std::string NpyError(const std::string& bytes) {
  StatusOr<TokenFileContents> r = ParseNpyFile(bytes, "t.npy");
  return r.ok() ? "ok" : r.status().message();
}

TEST(TokenFileFormatTest, NpyOneDocument) {
  StatusOr<TokenFileContents> r =
      ParseNpyFile(Npy("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }",
                       std::string("\x01\x00\x07\x00\x02\x00", 6)),
                   "t.npy");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tokens, (std::vector<int64_t>{1, 7, 2}));
  EXPECT_EQ(r->doc_starts, (std::vector<int64_t>{0}));
  EXPECT_EQ(r->max_token, 7);
}

// A shape beyond int64 threw std::out_of_range from std::stoll; one whose
// byte size wraps past 2^64 passed the bounds check and read past the end.
TEST(TokenFileFormatTest, NpyShapesTooLargeForTheFile) {
  EXPECT_EQ(NpyError(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999,), }")),
            "t.npy: .npy data is shorter than its shape (99999999999999999999 elements)");
  EXPECT_EQ(NpyError(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
                         std::string(16, '\0'))),
            "t.npy: .npy data is shorter than its shape (2305843009213693952 elements)");
}

// Version 2 has a 4-byte header length: 10 bytes were read as 12.
TEST(TokenFileFormatTest, NpyVersion2HeaderLengthTruncated) {
  EXPECT_EQ(NpyError(std::string("\x93NUMPY\x02\x00\x10\x00", 10)), "t.npy: truncated .npy header");
}

// std::regex recurses once per character of a run of spaces: ~65,000 of
// them overflowed the stack. NumPy itself refuses headers over 10,000 bytes.
TEST(TokenFileFormatTest, NpyHugeHeaderRefusedBeforeTheRegex) {
  const std::string longest_allowed =
      "{'descr':" + std::string(9900, ' ') + "'<u2', 'fortran_order': False, 'shape': (1,), }";
  EXPECT_EQ(NpyError(Npy(longest_allowed, std::string(2, '\0'))), "ok");
  const std::string header =
      "{'descr':" + std::string(60000, ' ') + "'<u2', 'fortran_order': False, 'shape': (1,), }";
  EXPECT_EQ(NpyError(Npy(header, std::string(2, '\0'))),
            "t.npy: .npy header is " + std::to_string(header.size()) +
                " bytes, more than the 10000 a token array needs");
}

std::string Tok(uint32_t width, uint64_t n, uint64_t docs, const std::string& rest) {
  std::string out(kTokFileMagic, 8);
  auto put = [&](const void* p, size_t size) { out.append(static_cast<const char*>(p), size); };
  const uint32_t reserved = 0;
  put(&width, 4);
  put(&reserved, 4);
  put(&n, 8);
  put(&docs, 8);
  return out + rest;
}

TEST(TokenFileFormatTest, TokCountsBoundedByTheFile) {
  StatusOr<TokenFileContents> r = ParseTokFile(Tok(2, uint64_t{1} << 63, 0, std::string(2, '\x01')), "t.tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "t.tok: size 34 bytes, but the header claims 9223372036854775808 tokens and 0 documents");
  std::string starts(16, '\0');
  starts[8] = 1;  // documents start at 0 and 1
  StatusOr<TokenFileContents> ok = ParseTokFile(Tok(2, 2, 2, std::string("\x05\x00\x06\x00", 4) + starts), "t.tok");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->doc_starts, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(ok->max_token, 6);
}

TEST(TrainerStateJsonTest, FieldsAndRanges) {
  StatusOr<ParsedTrainerState> s = ParseTrainerStateJson(
      R"({"step": 4, "data_position": 32, "loss_scaler": {"scale": 1024, "hysteresis_left": 2,
          "iteration": 4, "last_overflow": -1, "skipped": 1},
          "optimizer_shards": {"numel": 10, "world": 2, "parts": 2, "bucket": 6}})",
      "ts.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->step, 4);
  EXPECT_EQ(s->data_position, 32);
  ASSERT_TRUE(s->loss_scaler.has_value());
  EXPECT_EQ(s->loss_scaler->scale, 1024);
  EXPECT_EQ(s->loss_scaler->skipped, 1);
  ASSERT_TRUE(s->optimizer_shards.has_value());
  EXPECT_EQ(s->optimizer_shards->bucket, 6);

  auto error = [](std::string_view text) {
    StatusOr<ParsedTrainerState> r = ParseTrainerStateJson(text, "ts.json");
    return r.ok() ? "ok" : r.status().message();
  };
  EXPECT_EQ(error("[1]"), "ts.json: not a valid trainer state (not a JSON object)");
  EXPECT_EQ(error(R"({"step": 1e999, "data_position": 0})"),
            "ts.json: not a valid trainer state (not a JSON object)");
  EXPECT_EQ(error(R"({"step": 1})"), "ts.json: no \"data_position\"");
  EXPECT_EQ(error(R"({"step": 1, "data_position": 0, "loss_scaler": {"scale": 0}})"),
            "ts.json: \"loss_scaler.scale\" must be a positive number");
  EXPECT_EQ(error(R"({"step": 1, "data_position": 0, "optimizer_shards":
                      {"numel": 1, "world": 1, "parts": 2000000, "bucket": 1}})"),
            "ts.json: 2000000 optimizer shards is implausible");
}

}  // namespace
}  // namespace autosp
