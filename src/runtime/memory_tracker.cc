#include "runtime/memory_tracker.h"

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

namespace autosp::runtime {

namespace internal {

/// One tracker's counters; shared with the records of the allocations it was
/// charged for, so a free after the tracker is gone is still safe.
struct TrackerState {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};

  void Add(int64_t n) {
    const int64_t now = live.fetch_add(n, std::memory_order_relaxed) + n;
    int64_t p = peak.load(std::memory_order_relaxed);
    while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
  }
  void Sub(int64_t n) { live.fetch_sub(n, std::memory_order_relaxed); }
};

}  // namespace internal

namespace {

using internal::TrackerState;
using StateList = std::vector<std::shared_ptr<TrackerState>>;

/// The trackers whose scopes are open on this thread, innermost last.
thread_local StateList t_active_scopes;

/// A tracked allocation: how to free it and whom to credit.
struct Record {
  void* context = nullptr;
  c10::DeleterFnPtr deleter = nullptr;
  int64_t bytes = 0;
  StateList charged;
};

void DeleteTracked(void* ptr);

/// Delegates to the allocator that was current when it was installed.
/// Untracked allocations (no open scope) are returned untouched, so they cost
/// nothing; tracked ones get `DeleteTracked` as deleter with context == data
/// (so raw_allocate / raw_deallocate keep working).
class TrackingAllocator final : public c10::Allocator {
 public:
  explicit TrackingAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = base_->allocate(n);
    if (t_active_scopes.empty() || inner.get() == nullptr) return inner;
    void* data = inner.get();
    const c10::Device device = inner.device();
    Record record;
    record.deleter = inner.get_deleter();
    record.context = inner.release_context();
    record.bytes = static_cast<int64_t>(n);
    record.charged = t_active_scopes;
    for (const auto& s : record.charged) s->Add(record.bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      records_.emplace(data, std::move(record));
    }
    return c10::DataPtr(data, data, &DeleteTracked, device);
  }

  c10::DeleterFnPtr raw_deleter() const override { return &DeleteTracked; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    base_->copy_data(dest, src, count);
  }

  /// Frees `ptr`: credits the trackers of a tracked allocation, or hands an
  /// untracked raw allocation back to the base allocator.
  void Free(void* ptr) {
    Record record;
    bool tracked = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = records_.find(ptr);
      if (it != records_.end()) {
        record = std::move(it->second);
        records_.erase(it);
        tracked = true;
      }
    }
    if (!tracked) {
      c10::DeleterFnPtr base_deleter = base_->raw_deleter();
      if (base_deleter != nullptr) base_deleter(ptr);
      return;
    }
    for (const auto& s : record.charged) s->Sub(record.bytes);
    if (record.deleter != nullptr) record.deleter(record.context);
  }

 private:
  c10::Allocator* base_;
  std::mutex mu_;
  std::unordered_map<void*, Record> records_;
};

// Never destroyed: tensors may be freed during static destruction.
TrackingAllocator* g_allocator = nullptr;

void DeleteTracked(void* ptr) { g_allocator->Free(ptr); }

void InstallOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_allocator = new TrackingAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(g_allocator, kTrackingAllocatorPriority);
  });
}

}  // namespace

MemoryTracker::MemoryTracker() : state_(std::make_shared<TrackerState>()) { InstallOnce(); }

MemoryTracker::~MemoryTracker() = default;

int64_t MemoryTracker::live_bytes() const { return state_->live.load(); }

int64_t MemoryTracker::peak_bytes() const { return state_->peak.load(); }

void MemoryTracker::ResetPeak() { state_->peak.store(state_->live.load()); }

bool MemoryTracker::Installed() {
  return g_allocator != nullptr && c10::GetCPUAllocator() == g_allocator;
}

MemoryTracker::Scope::Scope(MemoryTracker& tracker) {
  t_active_scopes.push_back(tracker.state_);
}

MemoryTracker::Scope::~Scope() { t_active_scopes.pop_back(); }

}  // namespace autosp::runtime
