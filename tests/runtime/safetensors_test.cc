#include "runtime/safetensors.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <limits>

#include <gtest/gtest.h>

namespace autosp::runtime {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           fmt::format("autosp_safetensors_{}_{}", ::getpid(), info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  /// Writes a file from a header text and raw data bytes, as another writer would.
  std::string WriteRaw(const std::string& name, std::string header, const std::string& data) {
    std::string path = Path(name);
    std::ofstream out(path, std::ios::binary);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
    out << header << data;
    return path;
  }

  std::vector<std::string> DirEntries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtype) {
  at::manual_seed(0);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", at::randn({3, 4})},
      {"f64", at::randn({2, 2}, at::kDouble)},
      {"f16", at::randn({5}).to(at::kHalf)},
      {"bf16", at::randn({2, 3, 2}).to(at::kBFloat16)},
      {"i64", at::randint(-1000, 1000, {7}, at::kLong)},
      {"i32", at::randint(-1000, 1000, {2, 3}, at::kInt)},
      {"i16", at::randint(-1000, 1000, {4}, at::kShort)},
      {"i8", at::randint(-100, 100, {4}, at::kChar)},
      {"u8", at::randint(0, 255, {4}, at::kByte)},
      {"bool", at::randn({6}) > 0},
      {"scalar", at::scalar_tensor(3.5)},
      {"empty", at::zeros({0, 3})},
      {"strided", at::randn({4, 6}).t()},  // non-contiguous input
  };
  std::string path = Path("all.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, tensors, {{"format", "pt"}, {"step", "7"}}).ok());

  StatusOr<std::map<std::string, at::Tensor>> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    const at::Tensor& got = loaded->at(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type());
    EXPECT_EQ(got.sizes(), t.sizes());
    EXPECT_TRUE(at::equal(got, t));
  }
  StatusOr<std::map<std::string, std::string>> meta = LoadSafetensorsMetadata(path);
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(*meta, (std::map<std::string, std::string>{{"format", "pt"}, {"step", "7"}}));

  // The data section starts 8-byte aligned, as HF's writer makes it.
  std::string bytes = ReadAll(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
}

TEST_F(SafetensorsTest, ReadsAFileWrittenByHand) {
  float values[2] = {1.0f, -2.5f};
  std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  std::string path = WriteRaw(
      "hand.safetensors",
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})",
      data);
  StatusOr<std::map<std::string, at::Tensor>> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const at::Tensor& w = loaded->at("w");
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_FLOAT_EQ(w[0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][1].item<float>(), -2.5f);
}

TEST_F(SafetensorsTest, OffsetPastTheEndNamesTensorAndOffset) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  std::string path = WriteRaw("past.safetensors", header, std::string(16, '\0'));
  StatusOr<std::map<std::string, at::Tensor>> loaded = LoadSafetensors(path);
  ASSERT_FALSE(loaded.ok());
  uint64_t data_start = 8 + header.size();
  EXPECT_EQ(loaded.status().message(),
            fmt::format("{}: tensor 'b': data ends at byte {} (data_offsets [8, 24]), past the "
                        "end of the file ({} bytes)",
                        path, data_start + 24, data_start + 16));
}

TEST_F(SafetensorsTest, RejectsOverlapSizeMismatchAndBadHeaders) {
  std::string overlap_header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  std::string path = WriteRaw("overlap.safetensors", overlap_header, std::string(12, '\0'));
  StatusOr<std::map<std::string, at::Tensor>> r = LoadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), fmt::format("{}: tensors 'a' and 'b' overlap at byte {}", path,
                                              8 + overlap_header.size() + 4));

  std::string size_header = R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})";
  path = WriteRaw("size.safetensors", size_header, std::string(8, '\0'));
  r = LoadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            fmt::format("{}: tensor 'a' (BF16 [2, 3]) needs 12 bytes, but data_offsets [0, 8] at "
                        "byte {} hold 8",
                        path, 8 + size_header.size()));

  path = WriteRaw("dtype.safetensors", R"({"a":{"dtype":"C64","shape":[],"data_offsets":[0,8]}})",
                  std::string(8, '\0'));
  r = LoadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path + ": tensor 'a': unsupported dtype \"C64\"; supported: F64, F32, F16, BF16, I64, "
                   "I32, I16, I8, U8, BOOL");

  // A header length larger than the file.
  path = Path("short.safetensors");
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string("\xff\x00\x00\x00\x00\x00\x00\x00", 8) << "{}";
  }
  r = LoadSafetensors(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path + ": header length 255 (at byte 0) runs past the end of the file (10 bytes)");

  r = LoadSafetensors(Path("absent.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

ExpectedTensor Spec(std::string name, std::vector<int64_t> shape) {
  return ExpectedTensor{std::move(name), std::move(shape)};
}

TEST_F(SafetensorsTest, LoadParametersIntoChecksNamesAndShapes) {
  std::string path = Path("model.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {{"transformer.wte.weight", at::ones({8, 4})},
                                     {"transformer.h.0.attn.bias", at::ones({1, 1, 4, 4})},
                                     {"transformer.h.0.attn.masked_bias", at::ones({})}})
                  .ok());
  std::map<std::string, at::Tensor> params;
  ASSERT_TRUE(LoadParametersInto(path, {Spec("transformer.wte.weight", {8, 4})}, &params).ok());
  ASSERT_EQ(params.size(), 1u);
  EXPECT_TRUE(at::equal(params.at("transformer.wte.weight"), at::ones({8, 4})));

  Status s = LoadParametersInto(
      path, {Spec("transformer.wte.weight", {8, 4}), Spec("transformer.wpe.weight", {16, 4})},
      &params);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), path +
                             ": the weights do not match the model (2 parameters): 1 missing: "
                             "'transformer.wpe.weight' [16, 4]");

  s = LoadParametersInto(path, {Spec("transformer.wte.weight", {8, 5})}, &params);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), path +
                             ": the weights do not match the model (1 parameter): 1 of the "
                             "wrong shape: 'transformer.wte.weight' is [8, 4], the model's [8, 5]");

  std::string extra = Path("extra.safetensors");
  ASSERT_TRUE(SaveSafetensors(extra, {{"a", at::ones({2})}, {"b", at::ones({2})},
                                      {"c", at::ones({2})}})
                  .ok());
  s = LoadParametersInto(extra, {Spec("a", {2})}, &params);
  EXPECT_EQ(s.message(), extra +
                             ": the weights do not match the model (1 parameter): 2 not in "
                             "the model: 'b', 'c'");
  EXPECT_EQ(params.size(), 1u);  // unchanged on failure
}

// `check --weights` with a NaN in a weight was a "max rel err 0.00e+00" PASS:
// weights that are not finite are refused, naming the tensor.
TEST_F(SafetensorsTest, LoadParametersIntoRefusesNonFiniteWeights) {
  const std::string path = Path("nan.safetensors");
  at::Tensor w = at::ones({8, 4});
  w[3][2] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(SaveSafetensors(path, {{"transformer.wte.weight", w}}).ok());
  std::map<std::string, at::Tensor> params;
  Status s = LoadParametersInto(path, {Spec("transformer.wte.weight", {8, 4})}, &params);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), path + ": tensor 'transformer.wte.weight' holds NaN or infinity");
  EXPECT_TRUE(params.empty());
}

TEST_F(SafetensorsTest, LoadParametersIntoAcceptsGpt2NamesWithoutPrefix) {
  std::string path = Path("gpt2.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {{"wte.weight", at::ones({8, 4})}, {"h.0.attn.bias", at::ones({4})},
                                     {"lm_head.weight", at::ones({8, 4})}})
                  .ok());
  std::map<std::string, at::Tensor> params;
  Status s = LoadParametersInto(path, {Spec("transformer.wte.weight", {8, 4})}, &params);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(params.count("transformer.wte.weight"));
}

TEST_F(SafetensorsTest, WriteIsAtomic) {
  std::string path = Path("ckpt.safetensors");
  ASSERT_TRUE(SaveSafetensors(path, {{"old", at::arange(4)}}).ok());
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"ckpt.safetensors"});  // no temp file left
  const std::string before = ReadAll(path);

  // A failure before any byte is written: an unsupported dtype.
  Status s = SaveSafetensors(path, {{"z", at::zeros({2}, at::kComplexFloat)}});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(ReadAll(path), before);

  // A failure in the middle of writing: the file-size limit makes write() fail with EFBIG.
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  s = SaveSafetensors(path, {{"big", at::zeros({1 << 16})}});
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(s.message().starts_with("cannot write '" + path + "'")) << s.message();
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"ckpt.safetensors"});

  // And a successful overwrite replaces it whole.
  ASSERT_TRUE(SaveSafetensors(path, {{"new", at::ones({3})}}).ok());
  StatusOr<std::map<std::string, at::Tensor>> loaded = LoadSafetensors(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 1u);
  EXPECT_TRUE(loaded->count("new"));
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"ckpt.safetensors"});
}

}  // namespace
}  // namespace autosp::runtime
