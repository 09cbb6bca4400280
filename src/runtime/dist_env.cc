#include "runtime/dist_env.h"

#include <charconv>
#include <cstdlib>

namespace autosp::runtime {
namespace {

StatusOr<int> ParseInt(const char* name, const char* value, int min_value) {
  int out = 0;
  std::string_view text(value);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size() || out < min_value) {
    return InvalidArgument("environment variable {}='{}' is not an integer >= {}", name, value,
                           min_value);
  }
  return out;
}

}  // namespace

std::string FirstSlurmHost(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets.
  std::string first;
  int depth = 0;
  for (char c : nodelist) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
    first.push_back(c);
  }
  const auto open = first.find('[');
  if (open == std::string::npos) return first;
  // "node[03-05,7]" -> prefix "node" + first range start "03".
  std::string range = first.substr(open + 1);
  const auto stop = range.find_first_of(",-]");
  return first.substr(0, open) + range.substr(0, stop);
}

StatusOr<DistEnv> ReadDistEnv(const GetEnvFn& getenv_fn) {
  GetEnvFn get = getenv_fn ? getenv_fn : [](const char* n) { return std::getenv(n); };
  auto set = [&](const char* n) { return get(n) != nullptr && *get(n) != '\0'; };

  DistEnv env;
  const char* rank_var = nullptr;
  const char* size_var = nullptr;
  const char* local_var = nullptr;
  if (set("RANK") || set("WORLD_SIZE")) {
    env.launcher = "torchrun";
    rank_var = "RANK", size_var = "WORLD_SIZE", local_var = "LOCAL_RANK";
  } else if (set("OMPI_COMM_WORLD_RANK")) {
    env.launcher = "mpirun";
    rank_var = "OMPI_COMM_WORLD_RANK", size_var = "OMPI_COMM_WORLD_SIZE";
    local_var = "OMPI_COMM_WORLD_LOCAL_RANK";
  } else if (set("SLURM_PROCID")) {
    env.launcher = "slurm";
    rank_var = "SLURM_PROCID", size_var = "SLURM_NTASKS", local_var = "SLURM_LOCALID";
    if (set("SLURM_JOB_NODELIST")) env.master_addr = FirstSlurmHost(get("SLURM_JOB_NODELIST"));
  }
  if (rank_var != nullptr) {
    if (!set(rank_var) || !set(size_var)) {
      return InvalidArgument("launcher '{}': {} and {} must both be set", env.launcher, rank_var,
                             size_var);
    }
    AUTOSP_ASSIGN_OR_RETURN(env.rank, ParseInt(rank_var, get(rank_var), 0));
    AUTOSP_ASSIGN_OR_RETURN(env.world_size, ParseInt(size_var, get(size_var), 1));
    if (set(local_var)) {
      AUTOSP_ASSIGN_OR_RETURN(env.local_rank, ParseInt(local_var, get(local_var), 0));
    } else {
      env.local_rank = env.rank;
    }
    if (env.rank >= env.world_size) {
      return InvalidArgument("{}={} is not below {}={}", rank_var, env.rank, size_var,
                             env.world_size);
    }
  }
  if (set("MASTER_ADDR")) env.master_addr = get("MASTER_ADDR");
  if (set("MASTER_PORT")) {
    AUTOSP_ASSIGN_OR_RETURN(env.master_port, ParseInt("MASTER_PORT", get("MASTER_PORT"), 1));
    if (env.master_port > 65535) {
      return InvalidArgument("environment variable MASTER_PORT='{}' is not a TCP port",
                             get("MASTER_PORT"));
    }
  }
  return env;
}

}  // namespace autosp::runtime
