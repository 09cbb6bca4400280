// The executor: symbol binding from inputs, input checks, error reporting,
// release after last use, and collectives over the in-process backend.
#include "runtime/executor.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <gtest/gtest.h>

#include "runtime/comm/communicator.h"
#include "tests/runtime/comm/comm_test_util.h"
#include "tests/runtime/executor_test_util.h"

namespace autosp::runtime {
namespace {

using testing::Compile;
using testing::Compiled;
using testing::RelClose;

/// Message of a failed run (empty when it succeeded).
std::string RunError(Executor& ex, const std::vector<at::Tensor>& inputs) {
  auto r = ex.Run(inputs);
  return r.ok() ? std::string() : r.status().message();
}

constexpr const char* kMlp = R"(
graph @mlp(%x: f32[B, S, 8], %w: f32[16, 8], %pos: i64[S]) {
  symbol B
  symbol S
  %h = linear(%x, %w) : f32[B, S, 16]
  %a = silu(%h) : f32[B, S, 16]
  %r = reshape(%a) {shape=[B, S, 2, 8]} : f32[B, S, 2, 8]
  %t = slice(%r) {dim=1, start=1, end=S} : f32[B, S - 1, 2, 8]
  %n = arange() {end=S} : i64[S]
  %p = add(%pos, %n) : i64[S]
  return %t, %p
})";

TEST(ExecutorTest, OneGraphServesEverySequenceLength) {
  Compiled c = Compile(kMlp);
  ASSERT_NE(c.executor, nullptr);
  at::Tensor w = at::randn({16, 8});
  for (int64_t s : {5, 12}) {
    at::Tensor x = at::randn({3, s, 8});
    at::Tensor pos = at::arange(s, at::kLong);
    auto out = c.executor->Run({x, w, pos});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(c.executor->bindings().at("S"), s);
    EXPECT_EQ(c.executor->bindings().at("B"), 3);
    at::Tensor expected = at::silu(at::linear(x, w)).reshape({3, s, 2, 8}).slice(1, 1, s);
    EXPECT_TRUE(RelClose((*out)[0], expected));
    EXPECT_TRUE(RelClose((*out)[1], pos * 2));
  }
}

TEST(ExecutorTest, SolvesSymbolsThatOnlyOccurInExpressions) {
  // An SP rank's program: the input holds S/4 positions; S itself is global.
  const char* text = R"(
graph @rank(%ids: i64[B, S/4], %x: f32[2*B + 1]) {
  symbol B
  symbol S divisible_by 4
  %n = arange() {end=S} : i64[S]
  return %n
})";
  Compiled c = Compile(text);
  ASSERT_NE(c.executor, nullptr);
  auto out = c.executor->Run({at::zeros({2, 6}, at::kLong), at::zeros({5})});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(c.executor->bindings().at("S"), 24);
  EXPECT_EQ(c.executor->bindings().at("B"), 2);
  EXPECT_EQ((*out)[0].size(0), 24);
  // 2*B + 1 with B = 2 must be 5.
  EXPECT_NE(RunError(*c.executor, {at::zeros({2, 6}, at::kLong), at::zeros({6})})
                .find("input 'x' (#1) dim 0: expected 2*B + 1 = 5"),
            std::string::npos)
      << RunError(*c.executor, {at::zeros({2, 6}, at::kLong), at::zeros({6})});
}

TEST(ExecutorTest, InputMismatchesNameTheInputAndDim) {
  Compiled c = Compile(kMlp);
  ASSERT_NE(c.executor, nullptr);
  at::Tensor w = at::randn({16, 8});
  // A constant dim.
  std::string e = RunError(*c.executor, {at::randn({3, 5, 7}), w, at::arange(5, at::kLong)});
  EXPECT_NE(e.find("input 'x' (#0) dim 2: expected 8"), std::string::npos) << e;
  EXPECT_NE(e.find("got 7"), std::string::npos) << e;
  // A symbol bound by an earlier input, contradicted by a later one.
  e = RunError(*c.executor, {at::randn({3, 5, 8}), w, at::arange(6, at::kLong)});
  EXPECT_NE(e.find("input 'pos' (#2) dim 0: expected S = 5"), std::string::npos) << e;
  EXPECT_NE(e.find("got 6"), std::string::npos) << e;
  // Dtype and rank.
  e = RunError(*c.executor, {at::randn({3, 5, 8}), w, at::arange(5, at::kInt)});
  EXPECT_NE(e.find("input 'pos' (#2): expected dtype i64"), std::string::npos) << e;
  e = RunError(*c.executor, {at::randn({3, 5}), w, at::arange(5, at::kLong)});
  EXPECT_NE(e.find("input 'x' (#0): expected rank 3"), std::string::npos) << e;
  e = RunError(*c.executor, {at::randn({3, 5, 8})});
  EXPECT_NE(e.find("takes 3 inputs, got 1"), std::string::npos) << e;
}

TEST(ExecutorTest, ATenFailureIsReportedWithTheNode) {
  const char* text = R"(
graph @g(%ids: i64[B, S], %w: f32[16, 8]) {
  symbol B
  symbol S
  %e = embedding(%ids, %w) : f32[B, S, 8] loc("model.cc":42)
  return %e
})";
  Compiled c = Compile(text);
  ASSERT_NE(c.executor, nullptr);
  auto r = c.executor->Run({at::full({2, 3}, 99, at::kLong), at::randn({16, 8})});
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("embedding failed at"), std::string::npos) << m;
  EXPECT_NE(m.find("%e = embedding(%ids, %w)"), std::string::npos) << m;
  EXPECT_NE(m.find("model.cc:42"), std::string::npos) << m;
  EXPECT_NE(m.find("out of range"), std::string::npos) << m;
  // The executor is still usable afterwards.
  EXPECT_TRUE(c.executor->Run({at::zeros({2, 3}, at::kLong), at::randn({16, 8})}).ok());
}

/// A chain of n neg ops on x; with keep_all every intermediate is an output.
std::string ExpChain(int n, bool keep_all) {
  std::string text = "graph @chain(%a0: f32[N]) {\n  symbol N\n";
  std::vector<std::string> outs;
  for (int i = 1; i <= n; ++i) {
    text += fmt::format("  %a{} = neg(%a{}) : f32[N]\n", i, i - 1);
    if (keep_all || i == n) outs.push_back(fmt::format("%a{}", i));
  }
  return text + fmt::format("  return {}\n}}\n", fmt::join(outs, ", "));
}

TEST(ExecutorTest, ReleasingAfterLastUseBoundsThePeak) {
  const int64_t n = 1 << 20;  // 4 MiB per tensor
  const int64_t bytes = n * 4;
  at::Tensor x = at::rand({n});

  Compiled chain = Compile(ExpChain(10, false));
  ASSERT_NE(chain.executor, nullptr);
  auto out = chain.executor->Run({x});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const ExecStats freed = chain.executor->stats();
  EXPECT_GE(freed.peak_bytes, 2 * bytes);
  EXPECT_LE(freed.peak_bytes, 3 * bytes);
  EXPECT_EQ(freed.end_bytes, bytes);  // just the output
  EXPECT_LE(freed.peak_live_value_bytes, 3 * bytes);
  EXPECT_GT(freed.seconds, 0.0);

  Compiled all = Compile(ExpChain(10, true));
  ASSERT_NE(all.executor, nullptr);
  auto kept = all.executor->Run({x});
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_GE(all.executor->stats().peak_bytes, 10 * bytes);
  EXPECT_EQ(all.executor->stats().end_bytes, 10 * bytes);
  EXPECT_GE(all.executor->stats().peak_live_value_bytes, 10 * bytes);
  EXPECT_TRUE(RelClose((*out)[0], (*kept)[9]));
}

// Streamed outputs reach the sink as they are made, equal the returned ones of
// a plain run, and are released like any value: the 10 kept intermediates of
// the all-outputs chain never coexist.
TEST(ExecutorTest, StreamedOutputsGoToTheSinkAndAreReleased) {
  const int64_t n = 1 << 20;
  const int64_t bytes = n * 4;
  at::Tensor x = at::rand({n});
  Compiled plain = Compile(ExpChain(10, true));
  ASSERT_NE(plain.executor, nullptr);
  auto expected = plain.executor->Run({x});
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();

  ExecOptions options;
  options.stream_outputs_from = 1;  // output 0 is returned, 1..9 streamed
  Compiled streamed = Compile(ExpChain(10, true), options);
  ASSERT_NE(streamed.executor, nullptr);
  EXPECT_NE(RunError(*streamed.executor, {x}).find("needs a sink"), std::string::npos);

  std::vector<size_t> order;
  at::Tensor sum = at::zeros({n});
  auto sink = [&](size_t index, const at::Tensor& value) -> Status {
    order.push_back(index);  // compared through sums: a full-size temporary would count in the peak
    if (value.sum().item<double>() != (*expected)[index].sum().item<double>()) {
      return InternalError("output {} differs", index);
    }
    sum.add_(value);
    return Status::Ok();
  };
  auto out = streamed.executor->Run({x}, sink);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(order, (std::vector<size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(RelClose((*out)[0], (*expected)[0]));
  for (size_t i = 1; i < out->size(); ++i) EXPECT_FALSE((*out)[i].defined());
  at::Tensor expected_sum = at::zeros({n});
  for (size_t i = 1; i < expected->size(); ++i) expected_sum.add_((*expected)[i]);
  EXPECT_TRUE(at::equal(sum, expected_sum));
  EXPECT_LE(streamed.executor->stats().peak_bytes, 3 * bytes + 4096);  // + the sink's scalars
  EXPECT_EQ(streamed.executor->stats().end_bytes, bytes);

  auto failing = [](size_t index, const at::Tensor&) -> Status {
    return index == 4 ? InvalidArgument("no room") : Status::Ok();
  };
  auto failed = streamed.executor->Run({x}, failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("receiving output 4 of @chain: no room"), std::string::npos)
      << failed.status().ToString();
}

TEST(ExecutorTest, CollectiveWithoutCommunicatorIsAnError) {
  const char* text = R"(
graph @g(%x: f32[4, 8]) {
  mesh sp = 2
  %y = all_reduce(%x) {axis="sp"} : f32[4, 8]
  return %y
})";
  auto graph = ir::ParseGraph(text);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  auto ex = Executor::Create(**graph, {});
  ASSERT_FALSE(ex.ok());
  EXPECT_NE(ex.status().message().find("no communicator for mesh axis 'sp'"), std::string::npos)
      << ex.status().message();
}

TEST(ExecutorTest, CollectivesOverTheInProcessBackend) {
  constexpr int kRanks = 4;
  const char* text = R"(
graph @g(%x: f32[B, S, 8, 3]) {
  symbol B
  symbol S
  mesh sp = 4
  %a2a = all_to_all(%x) {axis="sp", concat_dim=1, split_dim=2} : f32[B, 4*S, 2, 3]
  %back = all_to_all(%a2a) {axis="sp", concat_dim=2, split_dim=1} : f32[B, S, 8, 3]
  %sum = all_reduce(%x) {axis="sp"} : f32[B, S, 8, 3]
  %max = all_reduce(%x) {axis="sp", op="max"} : f32[B, S, 8, 3]
  %gat = all_gather(%x) {axis="sp", dim=1} : f32[B, 4*S, 8, 3]
  %rs = reduce_scatter(%x) {axis="sp", dim=2} : f32[B, S, 2, 3]
  return %a2a, %back, %sum, %max, %gat, %rs
})";
  const std::vector<int64_t> shape{2, 5, 8, 3};
  runtime::testing::RunRanks(kRanks, [&](CommWorld& world) {
    std::unique_ptr<Communicator> comm = world.World();
    ExecOptions options;
    options.mesh_axes["sp"] = comm.get();
    Compiled c = Compile(text, options);
    ASSERT_NE(c.executor, nullptr);
    const int r = world.rank();
    std::vector<at::Tensor> all;
    for (int i = 0; i < kRanks; ++i) all.push_back(runtime::testing::RankInput(i, 7, at::kFloat, shape));
    auto out = c.executor->Run({all[static_cast<size_t>(r)]});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<at::Tensor> heads;
    for (const at::Tensor& t : all) heads.push_back(t.narrow(2, 2 * r, 2));
    using runtime::testing::Close;
    EXPECT_TRUE(Close((*out)[0].contiguous(), at::cat(heads, 1)));
    EXPECT_TRUE(Close((*out)[1].contiguous(), all[static_cast<size_t>(r)]));
    at::Tensor sum = at::stack(all).sum(0);
    EXPECT_TRUE(Close((*out)[2], sum));
    EXPECT_TRUE(Close((*out)[3], std::get<0>(at::stack(all).max(0))));
    EXPECT_TRUE(Close((*out)[4].contiguous(), at::cat(all, 1)));
    EXPECT_TRUE(Close((*out)[5].contiguous(), sum.narrow(2, 2 * r, 2).contiguous()));
  });
}

}  // namespace
}  // namespace autosp::runtime
