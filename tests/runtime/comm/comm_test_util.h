// Helpers shared by the communicator tests: run N ranks as threads, make
// deterministic per-rank inputs, compare with a dtype-aware tolerance.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/comm/comm_world.h"
#include "runtime/comm/in_process_communicator.h"

namespace autosp::runtime::testing {

/// Runs fn(world) on `n` threads, one per rank. If a rank throws, the hub is
/// aborted so peers fail fast, and the first exception is rethrown here.
inline void RunRanks(int n, const std::function<void(CommWorld&)>& fn, CommOptions options = {}) {
  InProcessHub hub(n, options);
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto world = hub.Join(r);
        fn(*world);
      } catch (...) {
        errors[r] = std::current_exception();
        hub.Abort("rank " + std::to_string(r) + " failed");
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// The input world rank `rank` contributes for test case `tag`: random
/// values from a generator seeded by (rank, tag), so any rank can recompute
/// any peer's input without communicating.
inline at::Tensor RankInput(int rank, int tag, at::ScalarType dtype, at::IntArrayRef shape) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1000003ULL * (rank + 1) + tag);
  if (dtype == at::kLong) return at::randint(-1000, 1000, shape, gen, at::kLong);
  return at::randn(shape, gen, at::kFloat).to(dtype);
}

/// Relative tolerance per dtype: fp32 sums in another order, bf16 rounds once.
inline double Tolerance(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return 1e-6;
    case at::kBFloat16: return 1e-2;
    default: return 0.0;
  }
}

/// ‖actual − expected‖ / max(‖expected‖, tiny) <= tolerance, exact for integers.
inline ::testing::AssertionResult Close(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << actual.sizes() << " != expected " << expected.sizes();
  }
  if (actual.scalar_type() != expected.scalar_type()) {
    return ::testing::AssertionFailure() << "dtype " << actual.scalar_type() << " != expected "
                                         << expected.scalar_type();
  }
  if (!at::isFloatingType(expected.scalar_type())) {
    if (at::equal(actual, expected)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "integer tensors differ";
  }
  const double err = (actual.to(at::kDouble) - expected.to(at::kDouble)).norm().item<double>();
  const double ref = std::max(expected.to(at::kDouble).norm().item<double>(), 1e-30);
  if (err / ref <= Tolerance(expected.scalar_type())) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "relative error " << err / ref << " > "
                                       << Tolerance(expected.scalar_type());
}

}  // namespace autosp::runtime::testing
