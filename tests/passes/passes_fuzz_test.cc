// Fuzz test: mutated golden IR files through the passes `autosp ir passes`
// runs. Every outcome must be a Status (ok or an error); a CHECK or a crash
// kills the binary and fails the test (the abort handler prints the input).
//
// Corpus: every .ir file under tests/, plus what the SP steps make of them
// (layouts propagated, then per-rank) so that later steps get inputs shaped
// like their real ones. Each case applies 1-3 random mutations (delete or
// duplicate a line, change a number, swap two tokens, a dim to a symbol, drop
// an attribute, another op name, dtype, role or layout), parses, verifies
// (as the CLI does), then runs each pipeline on a fresh parse and prints the
// result. Fixed seed and count: the same cases on every run.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "ir/op_kind.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/pass_registry.h"
#include "tests/ir/test_util.h"

namespace autosp::passes {
namespace {

constexpr uint64_t kSeed = 20240610;
constexpr int kCases = 4000;

// The pipelines each case runs through (each on its own parse).
const std::vector<std::string>& Pipelines() {
  static const std::vector<std::string> pipelines{
      "sp-partition",
      "sp-shard-inputs",
      "sp-propagate-layouts",
      "sp-insert-all-to-all",
      "sp-global-loss",
      "sp-sync-gradients",
      "sp-shard-inputs,sp-propagate-layouts,sp-insert-all-to-all",
      "sp-partition,sp-sync-gradients,dce,cse",
      "dce",
      "cse",
      "cse,dce",
      "autodiff",
      "autodiff,checkpoint",
      "autodiff,checkpoint{policy=full}",
      "sp-partition,autodiff,sp-sync-gradients,checkpoint",
      "mixed-precision{dtype=bf16}",
      "mixed-precision{dtype=f16},sp-partition,autodiff,sp-sync-gradients,checkpoint",
  };
  return pipelines;
}

// What runs now, for the abort handler.
std::string g_current_case;
std::string g_current_pipeline;

extern "C" void OnAbort(int) {
  const std::string msg = "\n==== passes_fuzz_test: abort while running --passes " +
                          g_current_pipeline + " on:\n" + g_current_case + "\n====\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  std::signal(SIGABRT, SIG_DFL);
  std::raise(SIGABRT);
}

using testing::ReadFile;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Runs `pipeline` on a fresh parse of `text`; returns the printed result, or
// "" when parsing, verification or a pass reports an error.
std::string RunPipeline(const std::string& text, const std::string& pipeline) {
  StatusOr<std::unique_ptr<ir::Graph>> graph = ir::ParseGraph(text, "fuzz.ir");
  if (!graph.ok()) return "";
  if (!ir::VerifyGraph(**graph).ok()) return "";
  PassManagerOptions options;
  options.verify_each = true;
  PassManager pm(options);
  if (!AddPipeline(pm, pipeline).ok()) return "";
  g_current_pipeline = pipeline;
  StatusOr<bool> changed = pm.Run(**graph);
  if (!changed.ok()) return "";
  return ir::PrintGraph(**graph);
}

std::vector<std::string> Corpus() {
  std::vector<std::filesystem::path> files;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(std::string(AUTOSP_SOURCE_DIR) + "/tests")) {
    if (e.is_regular_file() && e.path().extension() == ".ir") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> corpus;
  for (const auto& f : files) {
    std::string text = ReadFile(f);
    // Graphs without a mesh get one, so the SP passes get past their first check.
    if (text.find("  mesh sp") == std::string::npos) {
      const size_t body = text.find(") {\n");
      if (body != std::string::npos) {
        corpus.push_back(text);
        text.insert(body + 4, "  mesh sp = 2\n");
      }
    }
    corpus.push_back(text);
    for (const char* steps : {"sp-shard-inputs,sp-propagate-layouts", "sp-partition"}) {
      g_current_case = text;
      std::string after = RunPipeline(text, steps);
      if (!after.empty()) corpus.push_back(after);
    }
  }
  return corpus;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Below(v.size())]; }

  std::string Mutate(const std::string& text) {
    std::string out = text;
    const size_t n = 1 + Below(3);
    for (size_t i = 0; i < n; ++i) out = MutateOnce(out);
    return out;
  }

 private:
  // Replaces one random match of `re` in `text` by `with(match)`.
  template <typename F>
  std::string ReplaceOne(const std::string& text, const std::regex& re, F with) {
    std::vector<std::pair<size_t, size_t>> spans;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it) {
      spans.emplace_back(static_cast<size_t>(it->position()), static_cast<size_t>(it->length()));
    }
    if (spans.empty()) return text;
    const auto [pos, len] = Pick(spans);
    std::string out = text;
    out.replace(pos, len, with(text.substr(pos, len)));
    return out;
  }

  std::string MutateOnce(const std::string& text) {
    static const std::regex kNumber(R"(-?\b\d+\b)");
    static const std::regex kDimNumber(R"((?:\[|, )\d+(?=[,\]]))");
    static const std::regex kToken(R"([%@]?[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?|\S)");
    static const std::regex kAttr(R"(\b[a-z_]+=(?:\[[^\]]*\]|"[^"]*"|[^,}\s]+)(?:, )?)");
    static const std::regex kOpName(R"(= [a-z_]+\()");
    static const std::regex kDType(R"(\b(?:f32|bf16|f16|i64|i32|bool)\[)");
    static const std::regex kRole(R"(role=[a-z_]+)");
    static const std::regex kLayout(R"(shard\(\d+\)|replicate|partial\(sum\))");
    static const std::vector<std::string> kNumbers{"0",  "1",  "2",   "3",    "4",
                                                   "5",  "7",  "8",   "16",   "-1",
                                                   "-2", "64", "100", "4096", "1000003",
                                                   "3037000500", "4611686018427387904",
                                                   "9223372036854775807"};
    std::vector<std::string> lines = Lines(text);
    if (lines.empty()) return text;
    switch (Below(12)) {
      case 0: {  // delete a line
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(Below(lines.size())));
        return Join(lines);
      }
      case 1: {  // duplicate a line
        const size_t i = Below(lines.size());
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), lines[i]);
        return Join(lines);
      }
      case 2:
      case 3:  // change a number
        return ReplaceOne(text, kNumber, [&](const std::string&) { return Pick(kNumbers); });
      case 4: {  // swap two tokens of one line
        std::string& line = lines[Below(lines.size())];
        std::vector<std::pair<size_t, size_t>> toks;
        for (auto it = std::sregex_iterator(line.begin(), line.end(), kToken);
             it != std::sregex_iterator(); ++it) {
          toks.emplace_back(static_cast<size_t>(it->position()), static_cast<size_t>(it->length()));
        }
        if (toks.size() < 2) return text;
        size_t a = Below(toks.size()), b = Below(toks.size());
        if (a == b) return text;
        if (a > b) std::swap(a, b);
        const std::string ta = line.substr(toks[a].first, toks[a].second);
        const std::string tb = line.substr(toks[b].first, toks[b].second);
        line.replace(toks[b].first, toks[b].second, ta);
        line.replace(toks[a].first, toks[a].second, tb);
        return Join(lines);
      }
      case 5:  // a dim becomes a symbol
        return ReplaceOne(text, kDimNumber, [&](const std::string& m) {
          static const std::vector<std::string> kSyms{"B", "S", "H", "X", "S/4", "B*S"};
          return m.substr(0, m.find_first_of("0123456789")) + Pick(kSyms);
        });
      case 6:  // drop an attribute
        return ReplaceOne(text, kAttr, [](const std::string&) { return std::string(); });
      case 7:  // another op
        return ReplaceOne(text, kOpName, [&](const std::string&) {
          const ir::OpKind k = static_cast<ir::OpKind>(Below(ir::kNumOpKinds));
          return "= " + std::string(ir::OpKindName(k)) + "(";
        });
      case 8:  // another dtype
        return ReplaceOne(text, kDType, [&](const std::string&) {
          static const std::vector<std::string> kTypes{"f32[", "bf16[", "i64[", "i32[", "bool["};
          return Pick(kTypes);
        });
      case 9:  // another role
        return ReplaceOne(text, kRole, [&](const std::string&) {
          static const std::vector<std::string> kRoles{
              "role=other", "role=parameter", "role=input_ids", "role=labels",
              "role=position_ids", "role=attention_mask"};
          return Pick(kRoles);
        });
      case 10:  // another layout
        return ReplaceOne(text, kLayout, [&](const std::string&) {
          static const std::vector<std::string> kLayouts{"shard(0)", "shard(1)", "shard(2)",
                                                         "shard(3)", "replicate", "partial(sum)"};
          return Pick(kLayouts);
        });
      case 11: {  // a layout on a result that had none
        const size_t i = Below(lines.size());
        const size_t loc = lines[i].find(" loc(");
        if (loc == std::string::npos || lines[i].find("{sp:") != std::string::npos) return text;
        lines[i].insert(loc, Below(2) == 0 ? " {sp: shard(1)}" : " {sp: shard(2)}");
        return Join(lines);
      }
    }
    return text;
  }

  std::mt19937_64 rng_;
};

TEST(PassesFuzzTest, MutatedGoldenFilesGiveStatusNeverCrash) {
  std::signal(SIGABRT, &OnAbort);
  const std::vector<std::string> corpus = Corpus();
  ASSERT_GE(corpus.size(), 8u);
  Mutator mutator(kSeed);
  int parsed = 0, ran_ok = 0;
  for (int c = 0; c < kCases; ++c) {
    const std::string text = mutator.Mutate(mutator.Pick(corpus));
    g_current_case = text;
    g_current_pipeline = "(parse only)";
    if (!ir::ParseGraph(text, "fuzz.ir").ok()) continue;
    ++parsed;
    for (const std::string& pipeline : Pipelines()) {
      const std::string printed = RunPipeline(text, pipeline);
      if (printed.empty()) continue;
      ++ran_ok;
      // What a pipeline prints parses again.
      StatusOr<std::unique_ptr<ir::Graph>> again = ir::ParseGraph(printed, "printed.ir");
      EXPECT_TRUE(again.ok()) << again.status().ToString() << "\n--passes " << pipeline
                              << " on:\n" << text;
    }
  }
  std::signal(SIGABRT, SIG_DFL);
  std::printf("%zu corpus graphs, %d cases, %d parsed, %d pipeline runs ok\n", corpus.size(),
              kCases, parsed, ran_ok);
  // The mutations keep enough inputs valid to reach the passes.
  EXPECT_GT(parsed, kCases / 4);
  EXPECT_GT(ran_ok, kCases / 4);
}

}  // namespace
}  // namespace autosp::passes
