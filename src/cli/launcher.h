// Local multi-process launcher (`autosp launch`): starts N copies of a command
// with a torchrun-compatible environment, prefixes their output with the
// rank, and tears every rank down as soon as one fails.
#pragma once

#include <string>
#include <vector>

namespace autosp::cli {

struct LaunchOptions {
  int num_ranks = 1;                      ///< processes to start (WORLD_SIZE)
  std::string master_addr = "127.0.0.1";  ///< rendezvous host (MASTER_ADDR)
  int master_port = 0;                    ///< 0: pick a free port
  int kill_grace_ms = 5000;               ///< SIGTERM -> SIGKILL delay on teardown
  bool prefix_output = true;              ///< "[rank 3] " before every line
  std::vector<std::string> command;       ///< argv of each rank
};

/// Runs the ranks to completion. Returns 0 when every rank exits 0; otherwise
/// the exit code of the first rank that failed (128 + signal for a signal),
/// after stopping the others and reporting which rank died on stderr.
int Launch(const LaunchOptions& options);

/// A TCP port on 127.0.0.1 that was free a moment ago.
int PickFreePort();

}  // namespace autosp::cli
