// c10d backends: ProcessGroupGloo on CPU (always), ProcessGroupNCCL on CUDA
// (compiled in when LibTorch has CUDA). Rendezvous through a c10d TCPStore
// served by rank 0 at MASTER_ADDR:MASTER_PORT; each sub-group rendezvous
// under its own key prefix.
#pragma once

#include <memory>
#include <string>

#include "runtime/comm/comm_world.h"
#include "runtime/comm/communicator.h"
#include "runtime/dist_env.h"
#include "support/status.h"

namespace autosp::runtime {

/// "gloo" (CPU tensors) or "nccl" (CUDA tensors).
enum class C10dBackend { kGloo, kNccl };

/// True when this build can make NCCL groups.
bool NcclAvailable();

/// Connects this process to the others described by `env` (blocks until all
/// WORLD_SIZE ranks have joined or `options.timeout` passes) and returns its
/// CommWorld. Errors (unreachable master, timeout, NCCL missing) come back as
/// a Status naming the address and rank.
StatusOr<std::unique_ptr<CommWorld>> ConnectC10dWorld(const DistEnv& env, C10dBackend backend,
                                                      CommOptions options = {});

}  // namespace autosp::runtime
