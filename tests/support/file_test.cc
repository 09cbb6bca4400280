#include "support/file.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace autosp {
namespace {

namespace fs = std::filesystem;

std::string Error(const std::string& path, uint64_t max_bytes = uint64_t{1} << 32) {
  StatusOr<std::string> r = ReadRegularFile(path, "config file", max_bytes);
  return r.ok() ? "ok: " + *r : r.status().message();
}

// User-named files are read only when they are regular files of a bounded
// size: a directory, /dev/zero or a FIFO is refused by type before any read.
TEST(ReadRegularFileTest, RefusesWhatIsNotABoundedRegularFile) {
  const fs::path dir = fs::path(::testing::TempDir()) / "read_regular_file_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "a.json").string();
  std::ofstream(file) << "{\"x\": 1}";
  EXPECT_EQ(Error(file), "ok: {\"x\": 1}");
  EXPECT_EQ(Error(file, 4), "config file '" + file + "' is 8 bytes; the limit is 4");
  EXPECT_EQ(Error(dir.string()), "config file '" + dir.string() + "' is a directory, not a file");
  EXPECT_EQ(Error("/dev/zero"),
            "config file '/dev/zero' is not a regular file (a device, FIFO or socket is not read)");
  EXPECT_EQ(Error((dir / "missing").string()),
            "cannot read config file '" + (dir / "missing").string() + "': no such file");
}

}  // namespace
}  // namespace autosp
