// Each collective is one round on the group's shared state:
//   Step 1: every rank deposits a private copy of its input and the name of
//           the collective, then waits (bounded by the timeout) for the rest;
//   Step 2: the last to arrive checks that all ranks called the same thing and
//           publishes the round;
//   Step 3: each rank computes its own result from the deposits.
// Deposits are copies, so a rank that writes its result in place never races
// with a peer still reading its input.
#include "runtime/comm/in_process_communicator.h"

#include <ATen/ATen.h>

#include <condition_variable>
#include <vector>

#include <fmt/format.h>

#include "support/status.h"

namespace autosp::runtime {
namespace internal {

struct InProcessGroupState {
  explicit InProcessGroupState(int n) : size(n), deposits(n), calls(n) {}

  const int size;
  std::mutex mu;
  std::condition_variable cv;
  int64_t round = 0;      // increments when a round is published
  int arrived = 0;        // ranks that deposited in the open round
  bool published = false; // the open round is complete, ranks are reading
  int departed = 0;       // ranks that took their copy of a published round
  std::vector<at::Tensor> deposits;
  std::vector<std::string> calls;  // "all_reduce(sum) f32[8,4]" per rank
  std::string mismatch;            // non-empty when the ranks disagreed
  std::string aborted;             // non-empty after Abort()
};

}  // namespace internal

namespace {

using internal::InProcessGroupState;

std::string Signature(std::string_view collective, const at::Tensor& t, bool with_shape) {
  if (!t.defined()) return std::string(collective);
  if (!with_shape) return fmt::format("{} {}", collective, c10::toString(t.scalar_type()));
  return fmt::format("{} {}{}", collective, c10::toString(t.scalar_type()),
                     c10::str(t.sizes()));
}

at::Tensor Reduce(const std::vector<at::Tensor>& parts, ReduceOp op) {
  // Accumulate floating types in at least fp32, in rank order.
  const auto dtype = parts[0].scalar_type();
  const bool low_precision = dtype == at::kBFloat16 || dtype == at::kHalf;
  at::Tensor acc = low_precision ? parts[0].to(at::kFloat) : parts[0].clone();
  for (size_t i = 1; i < parts.size(); ++i) {
    at::Tensor p = low_precision ? parts[i].to(at::kFloat) : parts[i];
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kAvg: acc.add_(p); break;
      case ReduceOp::kMax: acc = at::maximum(acc, p); break;
    }
  }
  if (op == ReduceOp::kAvg) acc.div_(static_cast<double>(parts.size()));
  return acc.to(dtype);
}

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessGroupState> state, int rank, std::string name,
                        CommOptions options)
      : state_(std::move(state)), rank_(rank), name_(std::move(name)), options_(options) {}

  int rank() const override { return rank_; }
  int size() const override { return state_->size; }
  const std::string& name() const override { return name_; }
  std::string_view backend() const override { return "in-process"; }

  void AllReduce(at::Tensor& tensor, ReduceOp op) override {
    const std::string what = fmt::format("all_reduce({})", ReduceOpName(op));
    RejectIntegerAvg(what, tensor, op);
    auto parts = Exchange(what, tensor, /*same_shape=*/true);
    tensor.copy_(Reduce(parts, op));
  }

  at::Tensor AllToAll(const at::Tensor& input) override {
    RequireDivisible("all_to_all", input);
    auto parts = Exchange("all_to_all", input, /*same_shape=*/true);
    std::vector<at::Tensor> mine;
    for (const auto& p : parts) mine.push_back(p.chunk(size(), 0)[rank_]);
    return at::cat(mine, 0);
  }

  at::Tensor AllGather(const at::Tensor& input) override {
    return at::cat(Exchange("all_gather", input, /*same_shape=*/true), 0);
  }

  at::Tensor ReduceScatter(const at::Tensor& input, ReduceOp op) override {
    const std::string what = fmt::format("reduce_scatter({})", ReduceOpName(op));
    RejectIntegerAvg(what, input, op);
    RequireDivisible(what, input);
    auto parts = Exchange(what, input, /*same_shape=*/true);
    return Reduce(parts, op).chunk(size(), 0)[rank_].clone();
  }

  void Broadcast(at::Tensor& tensor, int root) override {
    const std::string what = fmt::format("broadcast(root={})", root);
    if (root < 0 || root >= size()) {
      throw std::invalid_argument(
          fmt::format("{}: root {} is not a rank of the group", DescribeCall(what, *this), root));
    }
    auto parts = Exchange(what, tensor, /*same_shape=*/true);
    if (rank_ != root) tensor.copy_(parts[root]);
  }

  void Barrier() override { Exchange("barrier", at::Tensor(), /*same_shape=*/false); }

 private:
  // Steps 1-3 of the round (see the note at the top of the file).
  std::vector<at::Tensor> Exchange(std::string_view what, const at::Tensor& input,
                                   bool same_shape) {
    InProcessGroupState& s = *state_;
    std::unique_lock<std::mutex> lock(s.mu);
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    auto wait_or_fail = [&](auto ready, std::string_view stage) {
      if (!s.cv.wait_until(lock, deadline, [&] { return ready() || !s.aborted.empty(); })) {
        s.aborted = fmt::format("rank {} timed out after {} ms {}", rank_,
                                options_.timeout.count(), stage);
        s.cv.notify_all();
      }
      // A round that completed is reported as it completed, even if a peer
      // aborted the group right after (its own error says why).
      if (!ready()) {
        throw CommError(fmt::format("{}: {}", DescribeCall(what, *this), s.aborted));
      }
    };
    // A rank may run ahead into the next collective while peers still read.
    wait_or_fail([&] { return !s.published; }, "waiting for the previous collective to drain");
    const int64_t my_round = s.round;
    s.deposits[rank_] = input.defined() ? input.contiguous().clone() : at::Tensor();
    s.calls[rank_] = Signature(what, input, same_shape);
    if (++s.arrived == s.size) {
      for (int r = 0; r < s.size; ++r) {
        if (s.calls[r] != s.calls[0]) {
          s.mismatch = fmt::format("ranks disagree: rank 0 called {}, rank {} called {}",
                                   s.calls[0], r, s.calls[r]);
          break;
        }
      }
      s.published = true;
      s.departed = 0;
      s.cv.notify_all();
    } else {
      wait_or_fail([&] { return s.published && s.round == my_round; },
                   fmt::format("waiting for {} of {} ranks to arrive", s.size - s.arrived,
                               s.size));
    }
    std::vector<at::Tensor> parts = s.deposits;
    std::string mismatch = s.mismatch;
    if (++s.departed == s.size) {
      s.published = false;
      s.arrived = 0;
      s.mismatch.clear();
      ++s.round;
      for (auto& d : s.deposits) d = at::Tensor();
      s.cv.notify_all();
    }
    if (!mismatch.empty()) throw CommError(fmt::format("{}: {}", DescribeCall(what, *this), mismatch));
    return parts;
  }

  std::shared_ptr<InProcessGroupState> state_;
  int rank_;
  std::string name_;
  CommOptions options_;
};

class InProcessWorld final : public CommWorld {
 public:
  InProcessWorld(InProcessHub& hub, int rank) : hub_(hub), rank_(rank) {}

  int rank() const override { return rank_; }
  int world_size() const override { return hub_.world_size(); }

  std::unique_ptr<Communicator> World() override {
    return std::make_unique<InProcessCommunicator>(hub_.Group("world", world_size()), rank_,
                                                   "world", hub_.options());
  }

  std::unique_ptr<Communicator> NewGroup(const std::string& name,
                                         const std::vector<int>& ranks) override {
    int group_rank = -1;
    for (size_t i = 0; i < ranks.size(); ++i) {
      if (ranks[i] == rank_) group_rank = static_cast<int>(i);
    }
    AUTOSP_CHECK(group_rank >= 0, "rank {} is not a member of group {}", rank_, name);
    return std::make_unique<InProcessCommunicator>(
        hub_.Group(name, static_cast<int>(ranks.size())), group_rank, name, hub_.options());
  }

 private:
  InProcessHub& hub_;
  int rank_;
};

}  // namespace

InProcessHub::InProcessHub(int world_size, CommOptions options)
    : world_size_(world_size), options_(options) {
  AUTOSP_CHECK(world_size >= 1, "world size {}", world_size);
}

InProcessHub::~InProcessHub() = default;

std::unique_ptr<CommWorld> InProcessHub::Join(int rank) {
  AUTOSP_CHECK(rank >= 0 && rank < world_size_, "rank {} outside world of {}", rank, world_size_);
  return std::make_unique<InProcessWorld>(*this, rank);
}

std::shared_ptr<internal::InProcessGroupState> InProcessHub::Group(const std::string& name,
                                                                   int size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& state = groups_[name];
  if (!state) state = std::make_shared<internal::InProcessGroupState>(size);
  AUTOSP_CHECK(state->size == size, "group {} made with sizes {} and {}", name, state->size, size);
  return state;
}

void InProcessHub::Abort(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [name, state] : groups_) {
    std::lock_guard<std::mutex> group_lock(state->mu);
    if (state->aborted.empty()) state->aborted = reason;
    state->cv.notify_all();
  }
}

}  // namespace autosp::runtime
