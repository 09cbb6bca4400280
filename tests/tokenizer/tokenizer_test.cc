// The tokenizer library on hand-written inputs: byte-level BPE encoding
// (merge order, added tokens, prefix space, unknown characters), and every
// way a tokenizer directory can be wrong, each an error that names the file
// and the key. The equality with HF tokenizers on real trained tokenizers is
// tests/tokenizer/hf_tokenizer_crosscheck.py.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace autosp::tokenizer {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// GPT-2's printable stand-in for byte b, as UTF-8.
std::string StandIn(int b) {
  int next = 0;
  for (int c = 0; c < b; ++c) {
    if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) ++next;
  }
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  const int cp = printable ? b : 256 + next;
  std::string s;
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return s;
}

// A tiny GPT-2-style tokenizer.json: the 256 bytes (id = byte), then
// he=256, ll=257, hell=258, hello=259, aa=260, and the added <|end|>=261.
Json TinyGpt2() {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[StandIn(b)] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab["aa"] = 260;
  return Json{
      {"version", "1.0"},
      {"added_tokens", Json::array({{{"id", 261},
                                     {"content", "<|end|>"},
                                     {"single_word", false},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"normalized", false},
                                     {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", nullptr},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        // Merges in both of HF's formats.
        {"merges", Json::array({"h e", Json::array({"l", "l"}), "he ll", "hell o", "a a"})}}}};
}

class TokenizerDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("tokenizer_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  std::string LoadError() {
    StatusOr<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(dir_.string());
    return tok.ok() ? "loaded" : tok.status().message();
  }
  std::unique_ptr<Tokenizer> Load() {
    StatusOr<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(dir_.string());
    EXPECT_TRUE(tok.ok()) << tok.status().message();
    return tok.ok() ? std::move(*tok) : nullptr;
  }
  std::vector<int64_t> Ids(const Tokenizer& tok, std::string_view text) {
    StatusOr<std::vector<int64_t>> ids = tok.Encode(text);
    EXPECT_TRUE(ids.ok()) << ids.status().message();
    return ids.ok() ? *ids : std::vector<int64_t>{};
  }
  fs::path dir_;
};

TEST_F(TokenizerDirTest, ByteLevelBpeMergesLowestRankFirst) {
  Write("tokenizer.json", TinyGpt2().dump());
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "hello"), (std::vector<int64_t>{259}));
  EXPECT_EQ(Ids(*tok, "hellx"), (std::vector<int64_t>{258, 'x'}));
  // " hello" is one GPT-2 pre-token; the space is its own byte (no merge for it).
  EXPECT_EQ(Ids(*tok, " hello"), (std::vector<int64_t>{' ', 259}));
  // A tie between equal pairs: the leftmost merges first.
  EXPECT_EQ(Ids(*tok, "aaa"), (std::vector<int64_t>{260, 'a'}));
  // Added tokens are cut out before pre-tokenization, anywhere in a word.
  EXPECT_EQ(Ids(*tok, "hi<|end|>hello"), (std::vector<int64_t>{'h', 'i', 261, 259}));
  // Multi-byte characters go byte by byte: é is C3 A9.
  EXPECT_EQ(Ids(*tok, "\xC3\xA9"), (std::vector<int64_t>{0xC3, 0xA9}));
  EXPECT_EQ(Ids(*tok, ""), (std::vector<int64_t>{}));
  EXPECT_EQ(tok->vocab_size(), 262);
  EXPECT_EQ(tok->eos_id(), -1);
}

TEST_F(TokenizerDirTest, AddPrefixSpaceAndIgnoreMerges) {
  Json j = TinyGpt2();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  j["model"]["ignore_merges"] = true;
  j["model"]["vocab"]["hel"] = 261;  // in the vocab, but no merge makes it
  Write("tokenizer.json", j.dump());
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "hello"), (std::vector<int64_t>{' ', 259}));
  EXPECT_EQ(Ids(*tok, " hel"), (std::vector<int64_t>{' ', 256, 'l'}));
  EXPECT_EQ(Ids(*tok, "hel"), (std::vector<int64_t>{' ', 256, 'l'}));
}

// As transformers: with a tokenizer_config.json, its add_prefix_space (false
// when unset) replaces a top-level ByteLevel's.
TEST_F(TokenizerDirTest, TokenizerConfigSetsAddPrefixSpace) {
  Json j = TinyGpt2();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  Write("tokenizer.json", j.dump());
  Write("tokenizer_config.json", "{}");
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "hello"), (std::vector<int64_t>{259}));
  Write("tokenizer_config.json", R"({"add_prefix_space": true})");
  tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "hello"), (std::vector<int64_t>{' ', 259}));
}

// As HF's AddedVocabulary: a listed id that collides with the vocab is
// replaced by the next free id.
TEST_F(TokenizerDirTest, AddedTokenIdsAreAssignedAsHfDoes) {
  Json j = TinyGpt2();
  j["added_tokens"][0]["id"] = 7;  // 7 is a byte's id
  Write("tokenizer.json", j.dump());
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "<|end|>"), (std::vector<int64_t>{261}));  // the vocab has 261 entries
}

TEST_F(TokenizerDirTest, IgnoreMergesTakesAWholeWordFromTheVocab) {
  Json j = TinyGpt2();
  j["model"]["ignore_merges"] = true;
  j["model"]["vocab"]["hel"] = 261;
  Write("tokenizer.json", j.dump());
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(Ids(*tok, "hel"), (std::vector<int64_t>{261}));
}

TEST_F(TokenizerDirTest, SpecialTokensFromTokenizerConfig) {
  Write("tokenizer.json", TinyGpt2().dump());
  Write("tokenizer_config.json",
        R"({"eos_token": {"content": "<|end|>"}, "bos_token": "<|end|>", "add_bos_token": true})");
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->eos_id(), 261);
  EXPECT_EQ(tok->bos_id(), 261);
  EXPECT_TRUE(tok->add_bos());
  Write("tokenizer_config.json", R"({"eos_token": "<|missing|>"})");
  EXPECT_EQ(LoadError(), (dir_ / "tokenizer_config.json").string() +
                             ": key \"eos_token\": '<|missing|>' is not a token of this tokenizer");
  Write("tokenizer_config.json", R"({"eos_token": 7})");
  EXPECT_EQ(LoadError(),
            (dir_ / "tokenizer_config.json").string() +
                ": key \"eos_token\" must be a string, {\"content\": \"...\"} or null");
  Write("tokenizer_config.json", "{oops");
  EXPECT_NE(LoadError().find((dir_ / "tokenizer_config.json").string() + ": invalid JSON"),
            std::string::npos);
}

TEST_F(TokenizerDirTest, SpecialTokensMapIsTheFallback) {
  Write("tokenizer.json", TinyGpt2().dump());
  Write("special_tokens_map.json", R"({"eos_token": "<|end|>"})");
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->eos_id(), 261);
  EXPECT_EQ(tok->bos_id(), -1);
}

TEST_F(TokenizerDirTest, InvalidUtf8IsAnErrorNamingTheOffset) {
  Write("tokenizer.json", TinyGpt2().dump());
  std::unique_ptr<Tokenizer> tok = Load();
  ASSERT_NE(tok, nullptr);
  for (std::string_view bad : {std::string_view("ab\xFF"), std::string_view("ab\xC3"),
                               std::string_view("ab\xED\xA0\x80"),  // a surrogate
                               std::string_view("ab\xC0\xAF")}) {   // overlong
    StatusOr<std::vector<int64_t>> ids = tok->Encode(bad);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().message(), "the text is not valid UTF-8 at byte 2");
  }
}

TEST_F(TokenizerDirTest, MissingFiles) {
  EXPECT_EQ(LoadError(), "tokenizer directory '" + dir_.string() +
                             "' has neither tokenizer.json nor tokenizer.model");
  const std::string missing = (dir_ / "nope").string();
  StatusOr<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(missing);
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().message(), "tokenizer directory '" + missing + "' does not exist");
  Write("file", "x");
  tok = LoadTokenizer((dir_ / "file").string());
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.status().message().find("is not a directory"), std::string::npos);
}

TEST_F(TokenizerDirTest, MalformedJson) {
  const std::string path = (dir_ / "tokenizer.json").string();
  for (const char* text : {"{\"model\": ", "", "[1, 2", "{\"a\": 1e400}"}) {
    Write("tokenizer.json", text);
    EXPECT_EQ(LoadError().rfind(path + ": invalid JSON: ", 0), 0u) << LoadError();
  }
  Write("tokenizer.json", "[]");
  EXPECT_EQ(LoadError(), path + ": must be a JSON object");
}

// Each unsupported or wrong value is refused with the file and the key.
TEST_F(TokenizerDirTest, UnsupportedAndWrongKeysAreNamed) {
  const std::string path = (dir_ / "tokenizer.json").string();
  struct Case {
    std::function<void(Json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](Json& j) { j["model"]["type"] = "WordPiece"; },
       "key \"model.type\" is \"WordPiece\": not supported; autosp supports \"BPE\" (byte-level)"},
      {[](Json& j) { j["model"]["type"] = "Unigram"; },
       "key \"model.type\" is \"Unigram\": not supported"},
      {[](Json& j) {
         j["normalizer"] = {{"type", "Lowercase"}};
       },
       "key \"normalizer.type\" is \"Lowercase\": not supported; autosp supports null, \"NFC\" "
       "or a \"Sequence\" of them"},
      {[](Json& j) {
         j["normalizer"] = {{"type", "Sequence"},
                            {"normalizers", Json::array({{{"type", "NFC"}}, {{"type", "NFKD"}}})}};
       },
       "key \"normalizer.normalizers[1].type\" is \"NFKD\": not supported"},
      {[](Json& j) {
         j["pre_tokenizer"] = {{"type", "Metaspace"}};
       },
       "key \"pre_tokenizer.type\" is \"Metaspace\": not supported"},
      {[](Json& j) { j["pre_tokenizer"] = nullptr; }, "key \"pre_tokenizer\" must be an object"},
      {[](Json& j) {
         j["pre_tokenizer"] = {{"type", 5}};
       },
       "key \"pre_tokenizer.type\" must be a string"},
      {[](Json& j) {
         j["pre_tokenizer"]["type"] = "Sequence";
         j["post_processor"] = {{"type", 7}};
       },
       "key \"pre_tokenizer.pretokenizers\" must be an array"},
      {[](Json& j) {
         j["pre_tokenizer"] = {{"type", "Sequence"},
                               {"pretokenizers", Json::array({{{"type", "Split"},
                                                               {"pattern", {{"Regex", "\\s+"}}},
                                                               {"behavior", "MergedWithNext"},
                                                               {"invert", false}},
                                                              {{"type", "ByteLevel"}}})}};
       },
       "key \"pre_tokenizer.pretokenizers[0].behavior\" is \"MergedWithNext\": not supported"},
      {[](Json& j) {
         j["pre_tokenizer"] = {
             {"type", "Sequence"},
             {"pretokenizers", Json::array({{{"type", "Split"},
                                             {"pattern", {{"Regex", "(unclosed"}}},
                                             {"behavior", "Isolated"},
                                             {"invert", false}},
                                            {{"type", "ByteLevel"}}})}};
       },
       "pre_tokenizer.pretokenizers[0].pattern: regex '(unclosed' does not compile at offset 9"},
      {[](Json& j) { j["model"]["dropout"] = 0.1; }, "key \"model.dropout\" is 0.1"},
      {[](Json& j) { j["model"]["byte_fallback"] = true; }, "key \"model.byte_fallback\" is true"},
      {[](Json& j) { j["model"]["continuing_subword_prefix"] = "##"; },
       "key \"model.continuing_subword_prefix\" is \"##\""},
      {[](Json& j) { j["model"]["merges"][1] = "l l l"; },
       "key \"model.merges[1]\" is 'l l l', not two tokens separated by one space"},
      {[](Json& j) { j["model"]["merges"][2] = "he zz"; },
       "\"model.merges\"[2] ('he' 'zz') uses 'zz', which is not in \"model.vocab\""},
      {[](Json& j) { j["model"]["vocab"]["x"] = "seven"; },
       "key \"model.vocab\" maps 'x' to \"seven\", not an integer id"},
      {[](Json& j) { j["model"].erase("vocab"); }, "key \"model.vocab\" must be an object"},
      {[](Json& j) { j["added_tokens"][0]["single_word"] = true; },
       "key \"added_tokens[0].single_word\" is true: not supported"},
      {[](Json& j) { j["added_tokens"][0]["id"] = -4; },
       "key \"added_tokens[0].id\" must be an integer id"},
  };
  for (const Case& c : cases) {
    Json j = TinyGpt2();
    c.edit(j);
    Write("tokenizer.json", j.dump());
    const std::string error = LoadError();
    EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
    EXPECT_NE(error.find(c.message), std::string::npos) << error << "\nwanted: " << c.message;
  }
}

// An unsupported tokenizer.json next to a tokenizer.model: the SentencePiece
// model is used, and kind() says why. A malformed tokenizer.json is still an error.
TEST_F(TokenizerDirTest, UnsupportedJsonFallsBackToSentencePieceModel) {
  Json j = TinyGpt2();
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  Write("tokenizer.json", j.dump());
  Write("tokenizer.model", "not a model");
  EXPECT_NE(LoadError().find("tokenizer.model: not a SentencePiece model"), std::string::npos)
      << LoadError();
  Write("tokenizer.json", "{oops");
  EXPECT_NE(LoadError().find("tokenizer.json: invalid JSON"), std::string::npos) << LoadError();
}

TEST_F(TokenizerDirTest, GarbageSentencePieceModel) {
  Write("tokenizer.model", "this is not a protobuf \xFF\xFF\xFF\xFF");
  EXPECT_EQ(
      LoadError().rfind((dir_ / "tokenizer.model").string() + ": not a SentencePiece model", 0), 0u)
      << LoadError();
  Write("tokenizer.model", "");
  EXPECT_NE(LoadError().find("tokenizer.model: "), std::string::npos) << LoadError();
}

TEST(Utf8Test, FindInvalid) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("\xE4\xB8\xAD\xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("x\x80"), 1u);
  EXPECT_EQ(FindInvalidUtf8("xy\xF4\x90\x80\x80"), 2u);  // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8(std::string_view("a\0b", 3)), std::string_view::npos);
}

TEST(RegexTest, UnicodeClassesAndLongRuns) {
  StatusOr<Regex> re = Regex::Compile(R"(\p{L}+|\p{N}{1,3}|\s+(?!\S)|\s+)", false, "test");
  ASSERT_TRUE(re.ok()) << re.status().message();
  auto m = re->FindAll("\xC3\xA9t\xC3\xA9 12345  x");  // "été 12345  x"
  ASSERT_TRUE(m.ok());
  std::vector<std::pair<size_t, size_t>> want = {{0, 5},   {5, 6},   {6, 9},  {9, 11},
                                                 {11, 12}, {12, 13}, {13, 14}};
  EXPECT_EQ(*m, want);
  // A long run of one class with a backtracking lookahead stays within the JIT stack.
  const std::string spaces(1 << 20, ' ');
  auto long_run = re->FindAll(spaces + "x");
  ASSERT_TRUE(long_run.ok()) << long_run.status().message();
  EXPECT_EQ(long_run->size(), 3u);
}

}  // namespace
}  // namespace autosp::tokenizer
