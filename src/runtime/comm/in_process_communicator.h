// In-process backend: N ranks as N threads of one process. For fast unit
// tests of everything above the communicator; same contract as the real
// backends (communicator.h), including timeouts and a check that every rank
// called the same collective with matching tensors.
//
//   InProcessHub hub(/*world_size=*/4);
//   // in thread r:
//   auto world = hub.Join(r);
//   CommMesh mesh = BuildCommMesh(*world, {.dp = 2, .sp = 2});
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "runtime/comm/comm_world.h"
#include "runtime/comm/communicator.h"

namespace autosp::runtime {

namespace internal {
struct InProcessGroupState;
}

/// Shared by the threads of one in-process world.
class InProcessHub {
 public:
  explicit InProcessHub(int world_size, CommOptions options = {});
  ~InProcessHub();

  int world_size() const { return world_size_; }
  const CommOptions& options() const { return options_; }

  /// The CommWorld handle of `rank`; call once per rank, from its thread.
  std::unique_ptr<CommWorld> Join(int rank);

  /// Fails every pending and future collective of every group with `reason`
  /// (a test harness calls this when one rank's thread dies).
  void Abort(const std::string& reason);

  /// The shared state of group `name`, made on first use.
  std::shared_ptr<internal::InProcessGroupState> Group(const std::string& name, int size);

 private:
  int world_size_;
  CommOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<internal::InProcessGroupState>> groups_;
};

}  // namespace autosp::runtime
