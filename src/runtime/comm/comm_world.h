// CommWorld: one process's (or, in-process, one thread's) handle on all ranks.
// It makes the world group and any sub-group this rank belongs to; a DP x SP
// mesh (mesh.h) is built from it without knowing the backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/comm/communicator.h"

namespace autosp::runtime {

class CommWorld {
 public:
  virtual ~CommWorld() = default;

  /// This rank in the world, in [0, world_size()).
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  /// The group of all ranks, named "world".
  virtual std::unique_ptr<Communicator> World() = 0;

  /// A group of the given world ranks (sorted, containing rank()), named
  /// `name`. Every member must call NewGroup with the same name and ranks;
  /// non-members do not call it. Group rank i is world rank ranks[i].
  virtual std::unique_ptr<Communicator> NewGroup(const std::string& name,
                                                 const std::vector<int>& ranks) = 0;
};

}  // namespace autosp::runtime
