// Communicator over a c10d Backend (Gloo or NCCL). The only file that includes
// the c10d process-group headers.
//
// The torch wheel does not ship Gloo's headers, which ProcessGroupGloo.hpp
// includes; Debian's libgloo-dev provides them. Only declarations are used
// from them: every Gloo object is made and driven inside libtorch_cpu, which
// carries its own Gloo, and we never link Debian's libgloo.
#include "runtime/comm/c10d_communicator.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef AUTOSP_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include <fmt/format.h>

namespace autosp::runtime {
namespace {

c10d::ReduceOp ToC10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: return c10d::ReduceOp::SUM;  // divided afterwards
    case ReduceOp::kMax: return c10d::ReduceOp::MAX;
  }
  return c10d::ReduceOp::SUM;
}

/// An exception's message without LibTorch's stack trace: its first line.
std::string FirstLine(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  const size_t end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

/// Every rank publishes what it was started with (WORLD_SIZE and the
/// caller's agreement, e.g. a config digest); rank 0 compares them all with
/// its own and publishes a verdict that every rank waits for. A mismatch or a
/// rank that never comes fails every rank within the timeout, naming both
/// values — not a collective timing out later with no reason given.
Status AgreeOnWorld(c10d::Store& store, const DistEnv& env, const CommOptions& options) {
  const std::string mine = fmt::format("WORLD_SIZE={}{}{}", env.world_size,
                                       options.agreement.empty() ? "" : ", ", options.agreement);
  const double seconds = static_cast<double>(options.timeout.count()) / 1000.0;
  auto hello = [](int r) { return fmt::format("autosp/hello/{}", r); };
  auto mismatch = [&](int r, const std::string& theirs, const std::string& rank0) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("rank {} was started with {}, but rank 0 with {}: every rank must "
                              "have the same WORLD_SIZE and config",
                              r, theirs, rank0));
  };
  try {
    if (store.add(fmt::format("autosp/claims/{}", env.rank), 1) > 1) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("rank {} of {} is claimed by more than one process: every process "
                                "needs its own RANK",
                                env.rank, env.world_size));
    }
    store.set(hello(env.rank), mine);
    if (env.rank != 0) {
      try {
        store.wait({hello(0)}, options.timeout);
      } catch (const std::exception&) {
        return Status(StatusCode::kDeadlineExceeded,
                      fmt::format("rank {}: rank 0 did not come within {:g} s", env.rank, seconds));
      }
      const std::string rank0 = store.get_to_str(hello(0));
      if (rank0 != mine) return mismatch(env.rank, mine, rank0);
      try {
        store.wait({"autosp/verdict"}, options.timeout);
      } catch (const std::exception&) {
        return Status(StatusCode::kDeadlineExceeded,
                      fmt::format("rank {}: rank 0 did not confirm the world within {:g} s",
                                  env.rank, seconds));
      }
      const std::string verdict = store.get_to_str("autosp/verdict");
      if (verdict == "ok") return Status::Ok();
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("rank {}: rank 0 reports: {}", env.rank, verdict));
    }
    Status verdict = Status::Ok();
    for (int r = 1; r < env.world_size && verdict.ok(); ++r) {
      try {
        store.wait({hello(r)}, options.timeout);
      } catch (const std::exception&) {
        verdict = Status(StatusCode::kDeadlineExceeded,
                         fmt::format("rank {} of {} did not come within {:g} s (was it started "
                                     "with another WORLD_SIZE, or did it fail to start?)",
                                     r, env.world_size, seconds));
        break;
      }
      const std::string theirs = store.get_to_str(hello(r));
      if (theirs != mine) verdict = mismatch(r, theirs, mine);
    }
    store.set("autosp/verdict", verdict.ok() ? std::string("ok") : verdict.message());
    return verdict;
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("rank {}: rendezvous at {}:{} failed: {}", env.rank, env.master_addr,
                              env.master_port, FirstLine(e)));
  }
}

class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<c10d::Backend> backend, std::string name,
                   std::string backend_name, CommOptions options)
      : backend_(std::move(backend)),
        name_(std::move(name)),
        backend_name_(std::move(backend_name)),
        options_(options) {}

  int rank() const override { return backend_->getRank(); }
  int size() const override { return backend_->getSize(); }
  const std::string& name() const override { return name_; }
  std::string_view backend() const override { return backend_name_; }

  void AllReduce(at::Tensor& tensor, ReduceOp op) override {
    const std::string what = fmt::format("all_reduce({})", ReduceOpName(op));
    RejectIntegerAvg(what, tensor, op);
    Run(what, [&] {
      std::vector<at::Tensor> tensors{tensor};
      c10d::AllreduceOptions opts;
      opts.reduceOp = ToC10d(op);
      opts.timeout = options_.timeout;
      return backend_->allreduce(tensors, opts);
    });
    if (op == ReduceOp::kAvg) tensor.div_(static_cast<double>(size()));
  }

  at::Tensor AllToAll(const at::Tensor& input) override {
    RequireDivisible("all_to_all", input);
    at::Tensor in = input.contiguous();
    at::Tensor out = at::empty_like(in);
    Run("all_to_all", [&] {
      std::vector<int64_t> equal_splits;  // empty: equal splits along dim 0
      c10d::AllToAllOptions opts;
      opts.timeout = options_.timeout;
      return backend_->alltoall_base(out, in, equal_splits, equal_splits, opts);
    });
    return out;
  }

  at::Tensor AllGather(const at::Tensor& input) override {
    at::Tensor in = input.contiguous();
    std::vector<int64_t> shape = in.sizes().vec();
    if (shape.empty()) shape.push_back(1), in = in.reshape({1});
    shape[0] *= size();
    at::Tensor out = at::empty(shape, in.options());
    Run("all_gather", [&] {
      c10d::AllgatherOptions opts;
      opts.timeout = options_.timeout;
      return backend_->_allgather_base(out, in, opts);
    });
    return out;
  }

  at::Tensor ReduceScatter(const at::Tensor& input, ReduceOp op) override {
    const std::string what = fmt::format("reduce_scatter({})", ReduceOpName(op));
    RejectIntegerAvg(what, input, op);
    RequireDivisible(what, input);
    at::Tensor in = input.contiguous();
    std::vector<int64_t> shape = in.sizes().vec();
    shape[0] /= size();
    at::Tensor out = at::empty(shape, in.options());
    Run(what, [&] {
      c10d::ReduceScatterOptions opts;
      opts.reduceOp = ToC10d(op);
      opts.timeout = options_.timeout;
      return backend_->_reduce_scatter_base(out, in, opts);
    });
    if (op == ReduceOp::kAvg) out.div_(static_cast<double>(size()));
    return out;
  }

  void Broadcast(at::Tensor& tensor, int root) override {
    const std::string what = fmt::format("broadcast(root={})", root);
    if (root < 0 || root >= size()) {
      throw std::invalid_argument(
          fmt::format("{}: root {} is not a rank of the group", DescribeCall(what, *this), root));
    }
    Run(what, [&] {
      std::vector<at::Tensor> tensors{tensor};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = options_.timeout;
      return backend_->broadcast(tensors, opts);
    });
  }

  void Barrier() override {
    Run("barrier", [&] {
      c10d::BarrierOptions opts;
      opts.timeout = options_.timeout;
      return backend_->barrier(opts);
    });
  }

 private:
  // Starts the collective and waits at most the timeout; any failure becomes
  // a CommError naming the collective, group, rank and backend.
  template <typename Start>
  void Run(std::string_view what, Start start) {
    try {
      c10::intrusive_ptr<c10d::Work> work = start();
      if (!work->wait(options_.timeout)) {
        throw CommError(fmt::format("{}: timed out after {} ms", DescribeCall(what, *this),
                                    options_.timeout.count()));
      }
    } catch (const CommError&) {
      throw;
    } catch (const std::exception& e) {
      throw CommError(fmt::format("{}: {} (a peer rank may have died or timed out after {} ms)",
                                  DescribeCall(what, *this), FirstLine(e.what()),
                                  options_.timeout.count()));
    }
  }

  static std::string FirstLine(const char* text) {
    std::string s(text);
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
  }

  c10::intrusive_ptr<c10d::Backend> backend_;
  std::string name_;
  std::string backend_name_;
  CommOptions options_;
};

class C10dWorld final : public CommWorld {
 public:
  C10dWorld(const DistEnv& env, C10dBackend backend, CommOptions options,
            c10::intrusive_ptr<c10d::Store> store)
      : env_(env), backend_(backend), options_(options), store_(std::move(store)) {}

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }

  std::unique_ptr<Communicator> World() override {
    std::vector<int> all(env_.world_size);
    for (int r = 0; r < env_.world_size; ++r) all[r] = r;
    return NewGroup("world", all);
  }

  std::unique_ptr<Communicator> NewGroup(const std::string& name,
                                         const std::vector<int>& ranks) override {
    int group_rank = -1;
    for (size_t i = 0; i < ranks.size(); ++i) {
      if (ranks[i] == env_.rank) group_rank = static_cast<int>(i);
    }
    AUTOSP_CHECK(group_rank >= 0, "rank {} is not a member of group {}", env_.rank, name);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("autosp/" + name, store_);
    const int n = static_cast<int>(ranks.size());
    try {
      return std::make_unique<C10dCommunicator>(MakeBackend(prefixed, group_rank, n), name,
                                                backend_ == C10dBackend::kGloo ? "gloo" : "nccl",
                                                options_);
    } catch (const std::exception& e) {
      throw CommError(fmt::format("creating group {} (rank {} of {}) failed: {}", name,
                                  group_rank, n, e.what()));
    }
  }

 private:
  c10::intrusive_ptr<c10d::Backend> MakeBackend(const c10::intrusive_ptr<c10d::Store>& store,
                                                int rank, int size) {
    if (backend_ == C10dBackend::kNccl) {
#ifdef AUTOSP_WITH_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = options_.timeout;
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
#else
      AUTOSP_CHECK(false, "NCCL requested in a build without it");
#endif
    }
    auto opts = c10d::ProcessGroupGloo::Options::create(options_.timeout);
    // As torch.distributed does: GLOO_SOCKET_IFNAME picks the interface,
    // otherwise this host's address (falling back to loopback).
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (env_.master_addr == "127.0.0.1" || env_.master_addr == "localhost") {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
  }

  DistEnv env_;
  C10dBackend backend_;
  CommOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
};

}  // namespace

bool NcclAvailable() {
#ifdef AUTOSP_WITH_NCCL
  return true;
#else
  return false;
#endif
}

StatusOr<std::unique_ptr<CommWorld>> ConnectC10dWorld(const DistEnv& env, C10dBackend backend,
                                                      CommOptions options) {
  if (backend == C10dBackend::kNccl && !NcclAvailable()) {
    return Status(StatusCode::kUnimplemented,
                  "backend 'nccl' needs a CUDA LibTorch; this build has none (build with "
                  "Torch_DIR pointing at a CUDA LibTorch, or use backend 'gloo')");
  }
  c10d::TCPStoreOptions store_opts;
  store_opts.port = static_cast<uint16_t>(env.master_port);
  store_opts.isServer = env.rank == 0;
  store_opts.numWorkers = env.world_size;
  // AgreeOnWorld waits for the ranks itself, so that a rank launched with
  // another WORLD_SIZE is named rather than waited for.
  store_opts.waitWorkers = false;
  store_opts.timeout = options.timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_opts);
  } catch (const std::exception& e) {
    const std::string why = FirstLine(e);
    if (env.rank == 0 && (why.find("ddress already in use") != std::string::npos ||
                          why.find("EADDRINUSE") != std::string::npos)) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("rank 0 cannot listen on {}:{}: the port is in use (another run?); "
                                "choose another with MASTER_PORT or `autosp launch --master-port`",
                                env.master_addr, env.master_port));
    }
    return Status(
        StatusCode::kUnavailable,
        fmt::format("rank {} of {} could not rendezvous at {}:{} ({} launcher): {}", env.rank,
                    env.world_size, env.master_addr, env.master_port, env.launcher, why));
  }
  AUTOSP_RETURN_IF_ERROR(AgreeOnWorld(*store, env, options));
  return std::unique_ptr<CommWorld>(
      std::make_unique<C10dWorld>(env, backend, options, std::move(store)));
}

}  // namespace autosp::runtime
