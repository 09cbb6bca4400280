// The runtime boundary: the Try* collectives and TryBuildCommMesh return a
// Status carrying the CommError's message (collective, group, rank, backend)
// instead of throwing.
#include <chrono>
#include <string>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "runtime/comm/communicator.h"
#include "runtime/comm/mesh.h"
#include "tests/runtime/comm/comm_test_util.h"

namespace autosp::runtime {
namespace {

using testing::RunRanks;

TEST(CommStatusTest, FailedCollectiveIsUnavailableNamingCollectiveGroupRankAndBackend) {
  Status status;
  CommOptions options;
  options.timeout = std::chrono::milliseconds(200);
  InProcessHub hub(2, options);
  std::thread survivor([&] {
    auto world = hub.Join(0);
    auto comm = world->World();
    at::Tensor x = at::ones({4});
    status = comm->TryAllReduce(x, ReduceOp::kSum);
  });
  // Rank 1 never calls: it "died".
  survivor.join();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("all_reduce(sum) on group world (rank 0 of 2, in-process)"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("timed out after 200 ms"), std::string::npos)
      << status.message();
}

TEST(CommStatusTest, RejectedArgumentIsInvalidArgument) {
  RunRanks(1, [](CommWorld& world) {
    auto comm = world.World();
    at::Tensor x = at::ones({4}, at::kLong);
    Status s = comm->TryAllReduce(x, ReduceOp::kAvg);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find("avg needs a floating tensor"), std::string::npos) << s.message();
  });
}

TEST(CommStatusTest, SuccessfulCollectivesReturnTheirResult) {
  RunRanks(2, [](CommWorld& world) {
    auto comm = world.World();
    at::Tensor x = at::full({2}, static_cast<double>(world.rank() + 1));
    ASSERT_TRUE(comm->TryAllReduce(x, ReduceOp::kSum).ok());
    EXPECT_TRUE(at::equal(x, at::full({2}, 3.0)));
    StatusOr<at::Tensor> all = comm->TryAllGather(at::full({1}, static_cast<double>(world.rank())));
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_TRUE(at::equal(*all, at::arange(2, at::kFloat)));
    at::Tensor root = at::full({1}, world.rank() == 0 ? 7.0 : 0.0);
    ASSERT_TRUE(comm->TryBroadcast(root, 0).ok());
    EXPECT_EQ(root.item<double>(), 7.0);
    EXPECT_TRUE(comm->TryBarrier().ok());
  });
}

TEST(CommStatusTest, TryBuildCommMeshValidatesTheShape) {
  RunRanks(2, [](CommWorld& world) {
    StatusOr<CommMesh> bad = TryBuildCommMesh(world, MeshShape{2, 2});
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    StatusOr<CommMesh> good = TryBuildCommMesh(world, MeshShape{1, 2});
    ASSERT_TRUE(good.ok()) << good.status().ToString();
    EXPECT_EQ(good->sp->size(), 2);
  });
}

}  // namespace
}  // namespace autosp::runtime
