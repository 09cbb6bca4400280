// Checksums against an independent reference: the XXH3-64 of the empty
// input and of "abc" are the published test vectors of the algorithm
// (xxHash's sanity checks), and a file hashed in pieces equals the whole.
#include "support/checksum.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace autosp {
namespace {

TEST(ChecksumTest, KnownVectorsPiecesAndRanges) {
  StreamingHash empty;
  EXPECT_EQ(HexDigest(empty.Digest()), "2d06800538d394c2");
  StreamingHash abc;
  abc.Update("a", 1);
  abc.Update("bc", 2);
  EXPECT_EQ(HexDigest(abc.Digest()), "78af5f94892f3950");

  // 9 MiB + 7: more than two read pieces, an uneven tail.
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "checksum.bin").string();
  std::string bytes((size_t{9} << 20) + 7, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 13);
  std::ofstream(path, std::ios::binary) << bytes;
  StreamingHash whole;
  whole.Update(bytes.data(), bytes.size());
  auto file = HashFile(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->bytes, bytes.size());
  EXPECT_EQ(file->xxh3, whole.Digest());
  StreamingHash middle;
  middle.Update(bytes.data() + 1000, 5 << 20);
  auto range = HashFileRange(path, 1000, 5 << 20);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(*range, middle.Digest());
  EXPECT_FALSE(HashFileRange(path, bytes.size() - 2, 3).ok()) << "past the end";
  EXPECT_EQ(HashFile(path + ".missing").status().code(), StatusCode::kNotFound);

  uint64_t back = 0;
  EXPECT_TRUE(ParseHexDigest(HexDigest(file->xxh3), &back));
  EXPECT_EQ(back, file->xxh3);
  EXPECT_FALSE(ParseHexDigest("2D06800538D394C2", &back)) << "lowercase only";
  EXPECT_FALSE(ParseHexDigest("2d06800538d394c", &back));
  EXPECT_FALSE(ParseHexDigest("2d06800538d394cg", &back));
}

}  // namespace
}  // namespace autosp
