#include "runtime/comm/communicator.h"

#include <c10/util/StringUtil.h>

#include <stdexcept>

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

void Communicator::RejectIntegerAvg(std::string_view what, const at::Tensor& t,
                                    ReduceOp op) const {
  if (op == ReduceOp::kAvg && !at::isFloatingType(t.scalar_type())) {
    throw std::invalid_argument(fmt::format("{}: avg needs a floating tensor, got {}",
                                            DescribeCall(what, *this),
                                            c10::toString(t.scalar_type())));
  }
}

void Communicator::RequireDivisible(std::string_view what, const at::Tensor& t) const {
  if (t.dim() == 0 || t.size(0) % size() != 0) {
    throw std::invalid_argument(fmt::format("{}: dim 0 of {} must be divisible by {} ranks",
                                            DescribeCall(what, *this), c10::str(t.sizes()),
                                            size()));
  }
}

Status Communicator::TryAllReduce(at::Tensor& tensor, ReduceOp op) {
  return CatchCommErrors([&] { AllReduce(tensor, op); });
}

StatusOr<at::Tensor> Communicator::TryAllGather(const at::Tensor& input) {
  at::Tensor out;
  AUTOSP_RETURN_IF_ERROR(CatchCommErrors([&] { out = AllGather(input); }));
  return out;
}

StatusOr<at::Tensor> Communicator::TryReduceScatter(const at::Tensor& input, ReduceOp op) {
  at::Tensor out;
  AUTOSP_RETURN_IF_ERROR(CatchCommErrors([&] { out = ReduceScatter(input, op); }));
  return out;
}

Status Communicator::TryBroadcast(at::Tensor& tensor, int root) {
  return CatchCommErrors([&] { Broadcast(tensor, root); });
}

Status Communicator::TryBarrier() {
  return CatchCommErrors([&] { Barrier(); });
}

}  // namespace autosp::runtime
