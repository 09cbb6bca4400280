#include "runtime/comm/mesh.h"

#include "runtime/comm/comm_world.h"
#include "runtime/comm/communicator.h"

namespace autosp::runtime {

std::vector<int> MeshShape::SpGroupRanks(int rank) const {
  std::vector<int> ranks;
  const int first = dp_index(rank) * sp;
  for (int i = 0; i < sp; ++i) ranks.push_back(first + i);
  return ranks;
}

std::vector<int> MeshShape::DpGroupRanks(int rank) const {
  std::vector<int> ranks;
  for (int d = 0; d < dp; ++d) ranks.push_back(d * sp + sp_index(rank));
  return ranks;
}

Status ValidateMesh(const MeshShape& shape, int world_size) {
  if (shape.dp < 1 || shape.sp < 1) {
    return InvalidArgument("mesh sizes must be >= 1, got dp={} sp={}", shape.dp, shape.sp);
  }
  if (shape.dp * shape.sp != world_size) {
    return InvalidArgument(
        "mesh dp x sp = {} x {} = {} ranks, but the world has {} ranks (WORLD_SIZE); "
        "choose dp and sp with dp * sp == {}",
        shape.dp, shape.sp, shape.dp * shape.sp, world_size, world_size);
  }
  return Status::Ok();
}

CommMesh::CommMesh() = default;
CommMesh::CommMesh(CommMesh&&) noexcept = default;
CommMesh& CommMesh::operator=(CommMesh&&) noexcept = default;
CommMesh::~CommMesh() = default;

CommMesh BuildCommMesh(CommWorld& world, const MeshShape& shape) {
  AUTOSP_CHECK(ValidateMesh(shape, world.world_size()).ok(), "invalid mesh {}x{} for world {}",
               shape.dp, shape.sp, world.world_size());
  CommMesh mesh;
  mesh.shape = shape;
  mesh.rank = world.rank();
  mesh.world = world.World();
  // Same creation order on every rank: SP group, then DP group.
  mesh.sp = world.NewGroup(fmt::format("sp[{}]", shape.dp_index(mesh.rank)),
                           shape.SpGroupRanks(mesh.rank));
  mesh.dp = world.NewGroup(fmt::format("dp[{}]", shape.sp_index(mesh.rank)),
                           shape.DpGroupRanks(mesh.rank));
  return mesh;
}

StatusOr<CommMesh> TryBuildCommMesh(CommWorld& world, const MeshShape& shape) {
  AUTOSP_RETURN_IF_ERROR(ValidateMesh(shape, world.world_size()));
  CommMesh mesh;
  AUTOSP_RETURN_IF_ERROR(CatchCommErrors([&] { mesh = BuildCommMesh(world, shape); }));
  return mesh;
}

}  // namespace autosp::runtime
