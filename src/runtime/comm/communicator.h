// Communicator: the collectives autosp's runtime needs, over one group of ranks.
//
// Backends (all behind this one interface, so passes and the executor never
// know which one runs):
//   - c10d ProcessGroupGloo (CPU, TCPStore rendezvous) — c10d_communicator.h
//   - c10d ProcessGroupNCCL (CUDA, when LibTorch has it)   — c10d_communicator.h
//   - in-process threads, one rank per thread (unit tests) — in_process_communicator.h
//
// Contract for every collective:
//   - all ranks of the group call the same collectives in the same order;
//   - a call blocks at most `timeout` (CommOptions); on timeout, on a dead
//     peer, or on a backend error it throws CommError whose message names the
//     collective, the group, this rank and the backend;
//   - tensors are contiguous; "equal splits" are along dim 0.
//
// The exceptions stay inside the runtime: callers above it (train/, cli/) use
// the Try* forms, which return a Status with the same message (code
// kUnavailable for a CommError), as do the executor's collective kernels.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <ATen/core/Tensor.h>

#include "support/status.h"

namespace autosp::runtime {

/// How all_reduce / reduce_scatter combine values.
enum class ReduceOp { kSum, kAvg, kMax };

std::string_view ReduceOpName(ReduceOp op);

/// Default bound on every blocking call.
inline constexpr std::chrono::milliseconds kDefaultCommTimeout{300'000};

struct CommOptions {
  /// Every blocking collective fails with CommError after this long.
  std::chrono::milliseconds timeout = kDefaultCommTimeout;
  /// What every rank must have been started with besides WORLD_SIZE (e.g.
  /// the config's digest); compared at rendezvous. Empty: WORLD_SIZE only.
  std::string agreement;
};

/// A collective failed: timeout, dead peer, mismatched call, backend error.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  /// This rank's index within the group, in [0, size()).
  virtual int rank() const = 0;
  /// Number of ranks in the group.
  virtual int size() const = 0;
  /// Readable group name: "world", "sp[1]", "dp[0]".
  virtual const std::string& name() const = 0;
  /// "gloo", "nccl", "in-process".
  virtual std::string_view backend() const = 0;

  /// In place: every rank ends with op(tensor of every rank).
  /// kAvg on integer tensors is rejected (std::invalid_argument).
  virtual void AllReduce(at::Tensor& tensor, ReduceOp op) = 0;

  /// Equal splits along dim 0: chunk j of rank i's input becomes chunk i of
  /// rank j's output. REQUIRES: input.size(0) % size() == 0.
  virtual at::Tensor AllToAll(const at::Tensor& input) = 0;

  /// Concatenates every rank's input along dim 0, in rank order.
  virtual at::Tensor AllGather(const at::Tensor& input) = 0;

  /// Reduces across ranks, then rank i keeps chunk i of dim 0.
  /// REQUIRES: input.size(0) % size() == 0.
  virtual at::Tensor ReduceScatter(const at::Tensor& input, ReduceOp op) = 0;

  /// In place: every rank ends with root's tensor.
  virtual void Broadcast(at::Tensor& tensor, int root) = 0;

  /// Returns when every rank of the group has entered.
  virtual void Barrier() = 0;

  // The runtime boundary: the collectives above, for callers above the runtime.
  // A CommError comes back as kUnavailable and a rejected argument
  // (std::invalid_argument) as kInvalidArgument, with the exception's message.

  /// AllReduce, reporting failure as a Status.
  Status TryAllReduce(at::Tensor& tensor, ReduceOp op);
  /// AllGather, reporting failure as a Status.
  StatusOr<at::Tensor> TryAllGather(const at::Tensor& input);
  /// ReduceScatter, reporting failure as a Status.
  StatusOr<at::Tensor> TryReduceScatter(const at::Tensor& input, ReduceOp op);
  /// Broadcast, reporting failure as a Status.
  Status TryBroadcast(at::Tensor& tensor, int root);
  /// Barrier, reporting failure as a Status.
  Status TryBarrier();

 protected:
  /// Throws std::invalid_argument for kAvg on a non-floating tensor.
  void RejectIntegerAvg(std::string_view what, const at::Tensor& t, ReduceOp op) const;
  /// Throws std::invalid_argument unless dim 0 of t splits evenly over size().
  void RequireDivisible(std::string_view what, const at::Tensor& t) const;
};

/// "all_reduce on group sp[1] (rank 0 of 2, gloo)": the prefix of every CommError.
std::string DescribeCall(std::string_view collective, const Communicator& comm);

/// Runs `fn` (which calls collectives) and returns what it threw as a Status:
/// a CommError as kUnavailable, a std::invalid_argument as kInvalidArgument,
/// each with its message. For runtime functions that are themselves the
/// boundary (the Try* methods, RunCommCheck, TryBuildCommMesh).
template <typename Fn>
Status CatchCommErrors(Fn&& fn) {
  try {
    std::forward<Fn>(fn)();
  } catch (const CommError& e) {
    return Status(StatusCode::kUnavailable, e.what());
  } catch (const std::invalid_argument& e) {
    return Status(StatusCode::kInvalidArgument, e.what());
  }
  return Status::Ok();
}

}  // namespace autosp::runtime
