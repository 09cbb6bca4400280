#include "runtime/comm/communicator.h"

#include <fmt/format.h>

namespace autosp::runtime {

std::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
  }
  return "unknown";
}

std::string DescribeCall(std::string_view collective, const Communicator& comm) {
  return fmt::format("{} on group {} (rank {} of {}, {})", collective, comm.name(), comm.rank(),
                     comm.size(), comm.backend());
}

}  // namespace autosp::runtime
