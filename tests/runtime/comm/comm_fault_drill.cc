// A fault drill over the real c10d backend. Started as N processes with the
// torchrun environment; every rank runs all_reduce on the world in a loop.
//   comm_fault_drill exit R K   — rank R exits (code 42) before collective K
//   comm_fault_drill hang R K   — rank R stops calling collectives at K
// Survivors must fail with a CommError naming the collective and the group
// within the timeout (AUTOSP_COMM_TIMEOUT_MS), and exit with code 3.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "runtime/comm/c10d_communicator.h"
#include "runtime/comm/mesh.h"

using namespace autosp::runtime;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: comm_fault_drill exit|hang RANK AT\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int bad_rank = std::atoi(argv[2]);
  const int at_call = std::atoi(argv[3]);
  auto env = ReadDistEnv();
  if (!env.ok()) return 2;
  CommOptions options;
  if (const char* t = std::getenv("AUTOSP_COMM_TIMEOUT_MS")) {
    options.timeout = std::chrono::milliseconds(std::atoi(t));
  }
  auto world = ConnectC10dWorld(*env, C10dBackend::kGloo, options);
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", world.status().message().c_str());
    return 2;
  }
  auto comm = (*world)->World();
  for (int call = 0; call < at_call + 3; ++call) {
    if (env->rank == bad_rank && call == at_call) {
      std::fprintf(stderr, "drill: rank %d %s at call %d\n", env->rank, mode.c_str(), call);
      std::fflush(stderr);
      if (mode == "exit") std::_Exit(42);
      std::this_thread::sleep_for(std::chrono::hours(1));
    }
    at::Tensor x = at::ones({1024});
    try {
      comm->AllReduce(x, ReduceOp::kSum);
    } catch (const CommError& e) {
      std::fprintf(stderr, "drill: %s\n", e.what());
      return 3;
    }
  }
  std::printf("drill: rank %d finished\n", env->rank);
  return 0;
}
