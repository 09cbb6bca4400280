#include "support/units.h"

#include <gtest/gtest.h>

namespace autosp {
namespace {

TEST(UnitsTest, ParsesBinarySizes) {
  EXPECT_EQ(ParseBytes("4096").value(), 4096);
  EXPECT_EQ(ParseBytes("4K").value(), 4096);
  EXPECT_EQ(ParseBytes("4KiB").value(), 4096);
  EXPECT_EQ(ParseBytes("1.5k").value(), 1536);
  EXPECT_EQ(ParseBytes("80GiB").value(), int64_t{80} << 30);
  EXPECT_EQ(ParseBytes("2MB").value(), 2 << 20);
}

TEST(UnitsTest, RejectsGarbageNamingIt) {
  for (const char* bad : {"", "GiB", "4Q", "1.2.3K", "-5"}) {
    auto r = ParseBytes(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

TEST(UnitsTest, Formats) {
  EXPECT_EQ(FormatBytes(4096), "4KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5KiB");
  EXPECT_EQ(FormatBytes(double(int64_t{80} << 30)), "80GiB");
  EXPECT_EQ(FormatBytes(12), "12B");
}

}  // namespace
}  // namespace autosp
