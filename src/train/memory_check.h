// Allocation requests checked before they happen: what one rank of a run
// will hold (the training state plus the memory plan's activation peak at
// the configured micro-batch and sequence length) against what the machine
// can give it. A run that cannot fit stops before the first allocation with
// both numbers and what to change — not an allocator failure mid-step.
#pragma once

#include <cstdint>
#include <string>

#include "support/status.h"
#include "train/state_bytes.h"

namespace autosp::train {

/// What one rank needs, in bytes (doubles: sizes from a hostile config may
/// exceed int64).
struct RankMemoryNeed {
  double state = 0;        ///< weights, gradients, fp32 master, Adam moments
  double activations = 0;  ///< the memory plan's peak of one step
  int64_t micro_batch = 0;
  int64_t seq_len = 0;
  double total() const { return state + activations; }
};

/// Memory this machine can give one rank: MemAvailable (/proc/meminfo) split
/// over the ranks on this node (LOCAL_WORLD_SIZE, else 1).
struct HostMemory {
  int64_t available = 0;  ///< bytes, for all local ranks
  int64_t local_ranks = 1;
  int64_t per_rank() const { return available / local_ranks; }
};

/// Reads this machine's memory; kUnavailable when /proc/meminfo cannot be read.
StatusOr<HostMemory> ReadHostMemory();

/// Ok when `need` fits `host`; else an error with both numbers and what to change.
Status CheckRankMemory(const RankMemoryNeed& need, const HostMemory& host);

}  // namespace autosp::train
