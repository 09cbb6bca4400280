// Where this process sits among its peers, read from the launcher's
// environment. Understood, in this order of precedence:
//   torchrun / `autosp launch`: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   mpirun (Open MPI):          OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK
//   Slurm srun:                 SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// With none of them set, the process is a single rank (world size 1).
// MASTER_ADDR / MASTER_PORT are honoured under every launcher; their defaults
// are 127.0.0.1 and 29500 (Slurm: the first host of SLURM_JOB_NODELIST).
#pragma once

#include <functional>
#include <string>

#include "support/status.h"

namespace autosp::runtime {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// Which launcher the values came from: "torchrun", "mpirun", "slurm", "none".
  std::string launcher = "none";
};

/// Reads the variables through `getenv` (std::getenv by default), so tests can
/// pass a map. Malformed or inconsistent values (RANK >= WORLD_SIZE, a
/// non-numeric port) are an error naming the variable and its value.
using GetEnvFn = std::function<const char*(const char*)>;
StatusOr<DistEnv> ReadDistEnv(const GetEnvFn& getenv = nullptr);

/// First host of a Slurm node list: "node[03-05,7],gpu1" -> "node03".
std::string FirstSlurmHost(const std::string& nodelist);

}  // namespace autosp::runtime
