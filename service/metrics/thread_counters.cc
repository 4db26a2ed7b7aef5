#include "service/metrics/thread_counters.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <utility>

namespace sasmint {
namespace internal {

// CounterRegistry is the shared part of one ThreadCounters: the blocks of live threads and what
// exited threads left behind.
struct CounterRegistry {
  explicit CounterRegistry(size_t n) : slots(n), retired(n, 0) {}
  const size_t slots;
  std::mutex mu;
  std::vector<std::atomic<uint64_t>*> live;  // guarded by mu
  std::vector<uint64_t> retired;             // guarded by mu
};

namespace {

constexpr size_t kCacheLine = 64;

std::atomic<uint64_t>* NewBlock(size_t slots) {
  const size_t bytes = (slots * sizeof(uint64_t) + kCacheLine - 1) / kCacheLine * kCacheLine;
  void* memory = ::operator new(bytes, std::align_val_t(kCacheLine));
  auto* block = static_cast<std::atomic<uint64_t>*>(memory);
  for (size_t i = 0; i < slots; ++i) new (&block[i]) std::atomic<uint64_t>(0);
  return block;
}

void DeleteBlock(std::atomic<uint64_t>* block) {
  ::operator delete(block, std::align_val_t(kCacheLine));
}

// ThreadBlocks owns one thread's blocks, one per ThreadCounters it has updated, and retires them
// when the thread exits.
class ThreadBlocks {
 public:
  ~ThreadBlocks() {
    for (Entry& e : entries_) Retire(e);
  }

  std::atomic<uint64_t>* Find(uint64_t id) const {
    for (const Entry& e : entries_) {
      if (e.id == id) return e.block;
    }
    return nullptr;
  }

  std::atomic<uint64_t>* Add(uint64_t id, const std::shared_ptr<CounterRegistry>& registry) {
    // Blocks of destroyed instances are dropped here, so a long-lived thread that outlives many
    // instances (tests start many servers) keeps only the live ones.
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [](Entry& e) {
                                    if (!e.registry.expired()) return false;
                                    DeleteBlock(e.block);
                                    return true;
                                  }),
                   entries_.end());
    Entry e{id, registry, NewBlock(registry->slots)};
    {
      std::lock_guard<std::mutex> lock(registry->mu);
      registry->live.push_back(e.block);
    }
    entries_.push_back(e);
    return e.block;
  }

 private:
  struct Entry {
    uint64_t id;
    std::weak_ptr<CounterRegistry> registry;
    std::atomic<uint64_t>* block;
  };

  static void Retire(Entry& e) {
    if (std::shared_ptr<CounterRegistry> r = e.registry.lock()) {
      std::lock_guard<std::mutex> lock(r->mu);
      for (size_t i = 0; i < r->slots; ++i) {
        r->retired[i] += e.block[i].load(std::memory_order_relaxed);
      }
      r->live.erase(std::find(r->live.begin(), r->live.end(), e.block));
    }
    DeleteBlock(e.block);
  }

  std::vector<Entry> entries_;
};

thread_local ThreadBlocks thread_blocks;

uint64_t NextId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace
}  // namespace internal

thread_local uint64_t ThreadCounters::cached_owner_ = 0;
thread_local std::atomic<uint64_t>* ThreadCounters::cached_block_ = nullptr;

ThreadCounters::ThreadCounters(size_t slots)
    : slots_(slots),
      id_(internal::NextId()),
      registry_(std::make_shared<internal::CounterRegistry>(slots)) {}

ThreadCounters::~ThreadCounters() = default;

std::atomic<uint64_t>* ThreadCounters::SlowBlock() {
  std::atomic<uint64_t>* block = internal::thread_blocks.Find(id_);
  if (block == nullptr) block = internal::thread_blocks.Add(id_, registry_);
  cached_owner_ = id_;
  cached_block_ = block;
  return block;
}

std::vector<uint64_t> ThreadCounters::Sum() const {
  std::lock_guard<std::mutex> lock(registry_->mu);
  std::vector<uint64_t> sum = registry_->retired;
  for (const std::atomic<uint64_t>* block : registry_->live) {
    for (size_t i = 0; i < slots_; ++i) sum[i] += block[i].load(std::memory_order_relaxed);
  }
  return sum;
}

}  // namespace sasmint
