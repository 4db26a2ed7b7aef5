// thread_counters.h: counters that cost a thread one uncontended store to update.
//
// A ThreadCounters holds `slots` 64-bit counters. Each thread that updates them gets its own
// cache-line aligned block of all the slots, written only by that thread (a relaxed load and
// store, no read-modify-write, no lock, no shared cache line); Sum adds the live blocks to a
// retired total. A thread that exits folds its block into the retired total first, so sums never
// go down. Slots are unsigned and wrap: a gauge kept as increments and decrements in different
// threads sums to its value read as int64_t.
//
// Thread-safe. The counters may be destroyed while threads that updated them still run; each
// thread frees its block when it exits.
#ifndef SASMINT_SERVICE_METRICS_THREAD_COUNTERS_H_
#define SASMINT_SERVICE_METRICS_THREAD_COUNTERS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sasmint {

namespace internal {
struct CounterRegistry;
}  // namespace internal

class ThreadCounters {
 public:
  explicit ThreadCounters(size_t slots);
  ~ThreadCounters();
  ThreadCounters(const ThreadCounters&) = delete;
  ThreadCounters& operator=(const ThreadCounters&) = delete;

  // Add adds `delta` to `slot` (< slots()) for the calling thread.
  void Add(size_t slot, uint64_t delta) {
    std::atomic<uint64_t>& s = Block()[slot];
    s.store(s.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

  // Sum returns every slot summed over all threads, live and exited.
  std::vector<uint64_t> Sum() const;

  size_t slots() const { return slots_; }

 private:
  // Block returns the calling thread's slots, creating them on its first update.
  std::atomic<uint64_t>* Block() {
    if (cached_owner_ == id_) return cached_block_;
    return SlowBlock();
  }
  std::atomic<uint64_t>* SlowBlock();

  const size_t slots_;
  const uint64_t id_;  // never reused, so a thread's cache never names a destroyed instance
  std::shared_ptr<internal::CounterRegistry> registry_;

  // The calling thread's most recently used instance and block.
  static thread_local uint64_t cached_owner_;
  static thread_local std::atomic<uint64_t>* cached_block_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_METRICS_THREAD_COUNTERS_H_
