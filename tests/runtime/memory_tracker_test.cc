// MemoryTracker counts exactly the bytes allocated under its scopes.
#include "runtime/memory_tracker.h"

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include <thread>

#include <gtest/gtest.h>

namespace autosp::runtime {
namespace {

at::Tensor Floats(int64_t n) { return at::empty({n}, at::kFloat); }

TEST(MemoryTrackerTest, CountsLiveAndPeakBytesExactly) {
  MemoryTracker tracker;
  EXPECT_TRUE(MemoryTracker::Installed());
  at::Tensor outside = Floats(1000);  // no scope: not counted
  EXPECT_EQ(tracker.live_bytes(), 0);
  {
    MemoryTracker::Scope scope(tracker);
    at::Tensor a = Floats(1000);
    EXPECT_EQ(tracker.live_bytes(), 4000);
    {
      at::Tensor b = at::empty({10, 10}, at::kDouble);
      EXPECT_EQ(tracker.live_bytes(), 4800);
      at::Tensor c = at::empty({3}, at::kLong);
      EXPECT_EQ(tracker.live_bytes(), 4824);
    }
    EXPECT_EQ(tracker.live_bytes(), 4000);
    EXPECT_EQ(tracker.peak_bytes(), 4824);
    tracker.ResetPeak();
    EXPECT_EQ(tracker.peak_bytes(), 4000);
    at::Tensor sum = a + a;  // one result of 4000 bytes
    EXPECT_EQ(tracker.live_bytes(), 8000);
  }
  EXPECT_EQ(tracker.live_bytes(), 0);
  EXPECT_EQ(tracker.peak_bytes(), 8000);
}

TEST(MemoryTrackerTest, NestedScopesChargeEveryOpenTracker) {
  MemoryTracker outer, inner;
  MemoryTracker::Scope s1(outer);
  at::Tensor a = Floats(10);
  at::Tensor b;
  {
    MemoryTracker::Scope s2(inner);
    b = Floats(20);
  }
  EXPECT_EQ(outer.live_bytes(), 120);
  EXPECT_EQ(inner.live_bytes(), 80);
  b.reset();
  EXPECT_EQ(outer.live_bytes(), 40);
  EXPECT_EQ(inner.live_bytes(), 0);
}

TEST(MemoryTrackerTest, ScopesArePerThreadAndFreesCreditTheAllocator) {
  MemoryTracker t1, t2;
  at::Tensor from_t1;
  std::thread a([&] {
    MemoryTracker::Scope s(t1);
    from_t1 = Floats(250);
  });
  std::thread b([&] {
    MemoryTracker::Scope s(t2);
    at::Tensor tmp = Floats(500);
    EXPECT_EQ(t2.live_bytes(), 2000);
  });
  a.join();
  b.join();
  EXPECT_EQ(t1.live_bytes(), 1000);
  EXPECT_EQ(t2.live_bytes(), 0);
  EXPECT_EQ(t2.peak_bytes(), 2000);
  {
    MemoryTracker::Scope s(t2);  // freeing under another tracker's scope credits t1
    from_t1.reset();
  }
  EXPECT_EQ(t1.live_bytes(), 0);
  EXPECT_EQ(t2.live_bytes(), 0);
}

TEST(MemoryTrackerTest, TensorsMayOutliveTheirTracker) {
  at::Tensor survivor;
  {
    MemoryTracker tracker;
    MemoryTracker::Scope s(tracker);
    survivor = Floats(64);
  }
  survivor.fill_(1.0f);
  EXPECT_EQ(survivor.sum().item<float>(), 64.0f);
  survivor.reset();  // frees without a tracker: must not crash
}

TEST(MemoryTrackerTest, RawAllocateAndDeallocateWork) {
  MemoryTracker tracker;
  MemoryTracker::Scope s(tracker);
  c10::Allocator* alloc = c10::GetCPUAllocator();
  void* p = alloc->raw_allocate(128);
  EXPECT_EQ(tracker.live_bytes(), 128);
  alloc->raw_deallocate(p);
  EXPECT_EQ(tracker.live_bytes(), 0);
}

}  // namespace
}  // namespace autosp::runtime
