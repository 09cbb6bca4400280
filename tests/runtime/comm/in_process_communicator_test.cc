// Every collective on the in-process backend, for world sizes 1..4, on the
// world and on the SP / DP groups of every mesh shape, for fp32, bf16, int64.
// Expectations are computed here from the per-rank inputs with plain tensor
// ops, independently of the communicator.
#include "runtime/comm/in_process_communicator.h"

#include <atomic>

#include "runtime/comm/mesh.h"
#include "tests/runtime/comm/comm_test_util.h"

namespace autosp::runtime {
namespace {

using testing::Close;
using testing::RankInput;
using testing::RunRanks;

struct Case {
  int dp;
  int sp;
  at::ScalarType dtype;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "dp=" << c.dp << " sp=" << c.sp << " " << c10::toString(c.dtype);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return fmt::format("dp{}_sp{}_{}", info.param.dp, info.param.sp,
                     c10::toString(info.param.dtype));
}

class CollectivesTest : public ::testing::TestWithParam<Case> {};

// Checks all collectives on `comm`, whose members are `world_ranks`.
void CheckGroup(Communicator& comm, const std::vector<int>& world_ranks, int my_world_rank,
                at::ScalarType dtype, int tag) {
  const int n = static_cast<int>(world_ranks.size());
  ASSERT_EQ(comm.size(), n);
  const int me = comm.rank();
  ASSERT_EQ(world_ranks[me], my_world_rank);
  auto input_of = [&](int group_rank, int t, at::IntArrayRef shape) {
    return RankInput(world_ranks[group_rank], tag * 100 + t, dtype, shape);
  };
  const std::vector<int64_t> shape{2 * n, 3};

  // all_reduce: sum, max, and avg for floating types.
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kAvg}) {
    if (op == ReduceOp::kAvg && !at::isFloatingType(dtype)) continue;
    const int t = static_cast<int>(op);
    at::Tensor x = input_of(me, t, shape);
    at::Tensor expected = input_of(0, t, shape).to(at::kDouble);
    for (int r = 1; r < n; ++r) {
      at::Tensor p = input_of(r, t, shape).to(at::kDouble);
      expected = op == ReduceOp::kMax ? at::maximum(expected, p) : expected + p;
    }
    if (op == ReduceOp::kAvg) expected = expected / n;
    comm.AllReduce(x, op);
    EXPECT_TRUE(Close(x, expected.to(dtype))) << "all_reduce " << ReduceOpName(op);
  }

  // all_to_all: my output block r is block `me` of rank r's input.
  {
    at::Tensor x = input_of(me, 10, shape);
    at::Tensor out = comm.AllToAll(x);
    for (int r = 0; r < n; ++r) {
      at::Tensor expected = input_of(r, 10, shape).slice(0, 2 * me, 2 * me + 2);
      EXPECT_TRUE(Close(out.slice(0, 2 * r, 2 * r + 2), expected)) << "all_to_all block " << r;
    }
  }

  // all_gather: blocks in rank order.
  {
    at::Tensor out = comm.AllGather(input_of(me, 11, {3, 2}));
    ASSERT_EQ(out.size(0), 3 * n);
    for (int r = 0; r < n; ++r) {
      EXPECT_TRUE(Close(out.slice(0, 3 * r, 3 * r + 3), input_of(r, 11, {3, 2})));
    }
  }

  // reduce_scatter(sum): my block of the sum.
  {
    at::Tensor out = comm.ReduceScatter(input_of(me, 12, shape), ReduceOp::kSum);
    at::Tensor expected = at::zeros({2, 3}, at::kDouble);
    for (int r = 0; r < n; ++r) {
      expected += input_of(r, 12, shape).slice(0, 2 * me, 2 * me + 2).to(at::kDouble);
    }
    EXPECT_TRUE(Close(out, expected.to(dtype))) << "reduce_scatter";
  }

  // broadcast from the last rank of the group.
  {
    at::Tensor x = input_of(me, 13, {5});
    comm.Broadcast(x, n - 1);
    EXPECT_TRUE(Close(x, input_of(n - 1, 13, {5}))) << "broadcast";
  }
  comm.Barrier();
}

TEST_P(CollectivesTest, MatchIndependentExpectation) {
  const Case c = GetParam();
  const MeshShape shape{c.dp, c.sp};
  RunRanks(shape.world_size(), [&](CommWorld& world) {
    CommMesh mesh = BuildCommMesh(world, shape);
    const int rank = world.rank();
    std::vector<int> all(shape.world_size());
    for (int r = 0; r < shape.world_size(); ++r) all[r] = r;
    CheckGroup(*mesh.world, all, rank, c.dtype, 1);
    CheckGroup(*mesh.sp, shape.SpGroupRanks(rank), rank, c.dtype, 2);
    CheckGroup(*mesh.dp, shape.DpGroupRanks(rank), rank, c.dtype, 3);
    EXPECT_EQ(mesh.sp->name(), fmt::format("sp[{}]", rank / c.sp));
    EXPECT_EQ(mesh.dp->name(), fmt::format("dp[{}]", rank % c.sp));
  });
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kLong}) {
    for (int n = 1; n <= 4; ++n) {
      for (int sp = 1; sp <= n; ++sp) {
        if (n % sp == 0) cases.push_back({n / sp, sp, dtype});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllMeshes, CollectivesTest, ::testing::ValuesIn(AllCases()), CaseName);

TEST(InProcessCommunicatorTest, MeshRanksAreContiguousForSp) {
  MeshShape shape{2, 4};
  EXPECT_EQ(shape.SpGroupRanks(5), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(shape.DpGroupRanks(5), (std::vector<int>{1, 5}));
  EXPECT_EQ(shape.dp_index(5), 1);
  EXPECT_EQ(shape.sp_index(5), 1);
  Status bad = ValidateMesh({3, 2}, 4);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("3 x 2 = 6 ranks, but the world has 4"), std::string::npos)
      << bad.message();
}

TEST(InProcessCommunicatorTest, MissingPeerTimesOutNamingCollectiveAndGroup) {
  std::atomic<int> failures{0};
  std::string message;
  CommOptions options;
  options.timeout = std::chrono::milliseconds(200);
  InProcessHub hub(2, options);
  std::thread survivor([&] {
    auto world = hub.Join(0);
    auto comm = world->World();
    at::Tensor x = at::ones({4});
    try {
      comm->AllReduce(x, ReduceOp::kSum);
    } catch (const CommError& e) {
      ++failures;
      message = e.what();
    }
  });
  // Rank 1 never calls: it "died".
  const auto start = std::chrono::steady_clock::now();
  survivor.join();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(failures, 1);
  EXPECT_NE(message.find("all_reduce(sum) on group world (rank 0 of 2, in-process)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("timed out after 200 ms"), std::string::npos) << message;
  EXPECT_LT(waited, std::chrono::seconds(5));
}

TEST(InProcessCommunicatorTest, MismatchedCollectivesAreReported) {
  EXPECT_THROW(
      {
        try {
          RunRanks(2, [](CommWorld& world) {
            auto comm = world.World();
            at::Tensor x = at::ones({4});
            if (world.rank() == 0) {
              comm->AllReduce(x, ReduceOp::kSum);
            } else {
              comm->AllGather(x);
            }
          });
        } catch (const CommError& e) {
          EXPECT_NE(std::string(e.what()).find("ranks disagree"), std::string::npos) << e.what();
          throw;
        }
      },
      CommError);
}

TEST(InProcessCommunicatorTest, AvgOnIntegersIsRejected) {
  RunRanks(1, [](CommWorld& world) {
    auto comm = world.World();
    at::Tensor x = at::ones({4}, at::kLong);
    EXPECT_THROW(comm->AllReduce(x, ReduceOp::kAvg), std::invalid_argument);
  });
}

}  // namespace
}  // namespace autosp::runtime
