// Exact accounting of CPU allocator bytes, per thread of interest.
//
// Design: the first MemoryTracker installs a wrapping allocator into c10
// (c10::SetCPUAllocator with priority kTrackingAllocatorPriority) that
// delegates every allocation to the allocator that was current before it and
// records, per live data pointer, its size and the trackers it was charged
// to. A tracker is charged for the allocations made on a thread while one of
// its Scopes is active on that thread (nested scopes, even of different
// trackers, are all charged). A free is credited back to exactly the trackers
// that were charged, whichever thread frees it, so live bytes are exact.
// Trackers may be destroyed while tensors they counted are still alive.
//
// In-process ranks run as threads: each rank opens a Scope of its own
// tracker, and its numbers are its own. Allocations made by ATen's intra-op
// worker threads are not attributed (those threads have no Scope).
#pragma once

#include <cstdint>
#include <memory>

namespace autosp::runtime {

namespace internal {
struct TrackerState;
}

/// The c10 priority the tracking allocator is installed with (the default
/// CPU allocator has 0; anything that must win over us uses a higher one).
inline constexpr uint8_t kTrackingAllocatorPriority = 10;

/// Counts live and peak bytes of the CPU allocations made under its Scopes.
class MemoryTracker {
 public:
  /// Installs the tracking allocator (once per process) and starts at zero.
  MemoryTracker();
  ~MemoryTracker();
  MemoryTracker(const MemoryTracker&) = delete;
  MemoryTracker& operator=(const MemoryTracker&) = delete;

  /// Bytes allocated under this tracker's scopes and not yet freed.
  int64_t live_bytes() const;
  /// The largest live_bytes() since construction or the last ResetPeak().
  int64_t peak_bytes() const;
  /// Sets the peak to the current live bytes.
  void ResetPeak();

  /// While alive, allocations made on the constructing thread are charged to
  /// `tracker` (and to any tracker whose Scope is already open on the thread).
  /// REQUIRES: destroyed on the thread that created it, in LIFO order.
  class Scope {
   public:
    explicit Scope(MemoryTracker& tracker);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

  /// True once the tracking allocator is the active CPU allocator.
  static bool Installed();

 private:
  std::shared_ptr<internal::TrackerState> state_;
};

}  // namespace autosp::runtime
