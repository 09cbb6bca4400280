// The DP x SP device mesh: world = DP x SP, rank = dp_index * SP + sp_index,
// so SP groups are contiguous ranks (they exchange the most data: all-to-all
// around every attention) and DP groups are strided.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/status.h"

namespace autosp::runtime {

class Communicator;
class CommWorld;

struct MeshShape {
  int dp = 1;
  int sp = 1;

  int world_size() const { return dp * sp; }
  int sp_index(int rank) const { return rank % sp; }
  int dp_index(int rank) const { return rank / sp; }

  /// World ranks of the SP group that holds `rank`: contiguous.
  std::vector<int> SpGroupRanks(int rank) const;
  /// World ranks of the DP group that holds `rank`: stride sp.
  std::vector<int> DpGroupRanks(int rank) const;
};

/// Checks dp, sp >= 1 and dp * sp == world_size; the error shows the arithmetic.
Status ValidateMesh(const MeshShape& shape, int world_size);

/// One rank's communicators on the mesh.
struct CommMesh {
  MeshShape shape;
  int rank = 0;
  std::unique_ptr<Communicator> world;  ///< all ranks
  std::unique_ptr<Communicator> sp;     ///< "sp[dp_index]": this rank's SP group
  std::unique_ptr<Communicator> dp;     ///< "dp[sp_index]": this rank's DP group

  CommMesh();
  CommMesh(CommMesh&&) noexcept;
  CommMesh& operator=(CommMesh&&) noexcept;
  ~CommMesh();
};

/// Builds the world, SP and DP groups of this rank. Every rank calls it with
/// the same shape. REQUIRES: ValidateMesh(shape, world.world_size()).ok().
/// Throws CommError when a backend cannot create a group.
CommMesh BuildCommMesh(CommWorld& world, const MeshShape& shape);

/// BuildCommMesh for callers above the runtime: an invalid shape is the
/// ValidateMesh error, a failed group creation a kUnavailable Status.
StatusOr<CommMesh> TryBuildCommMesh(CommWorld& world, const MeshShape& shape);

}  // namespace autosp::runtime
