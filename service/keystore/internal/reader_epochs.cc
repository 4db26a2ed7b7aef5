#include "service/keystore/internal/reader_epochs.h"

#include <array>
#include <chrono>
#include <thread>

namespace sasmint::internal {
namespace {

// One slot per reading thread, each on its own cache line. 0 = not reading; otherwise the
// global epoch the thread saw when its outermost section opened.
struct alignas(64) Slot {
  std::atomic<uint64_t> epoch{0};
  std::atomic<bool> claimed{false};
};

struct Registry {
  std::atomic<uint64_t> epoch{1};
  std::atomic<int> high_water{0};  // slots [0, high_water) have ever been claimed
  std::array<Slot, ReaderSection::kMaxReaders> slots;
};

Registry& TheRegistry() {
  // Never destroyed: threads may still close sections during static destruction.
  static Registry* const registry = new Registry();
  return *registry;
}

// ThreadState is the calling thread's slot (claimed on first use, released at thread exit)
// and how deeply its sections nest.
struct ThreadState {
  Slot* slot = nullptr;
  bool tried = false;
  int depth = 0;

  ~ThreadState() {
    if (slot != nullptr) {
      slot->epoch.store(0, std::memory_order_release);
      slot->claimed.store(false, std::memory_order_release);
    }
  }

  Slot* Claim() {
    if (slot != nullptr || tried) return slot;
    tried = true;
    Registry& r = TheRegistry();
    for (int i = 0; i < ReaderSection::kMaxReaders; ++i) {
      bool expected = false;
      if (!r.slots[i].claimed.load(std::memory_order_relaxed) &&
          r.slots[i].claimed.compare_exchange_strong(expected, true)) {
        int high = r.high_water.load();
        while (high < i + 1 && !r.high_water.compare_exchange_weak(high, i + 1)) {
        }
        slot = &r.slots[i];
        return slot;
      }
    }
    return nullptr;
  }
};

thread_local ThreadState thread_state;

}  // namespace

ReaderSection::ReaderSection() : slot_(nullptr) {
  ThreadState& state = thread_state;
  Slot* slot = state.Claim();
  if (slot == nullptr) return;
  slot_ = &slot->epoch;
  if (state.depth++ == 0) {
    // seq_cst store: the announcement must be visible before this thread loads any pointer it
    // protects (a store-load order, which x86 only keeps with a locked instruction).
    slot_->store(TheRegistry().epoch.load(std::memory_order_acquire), std::memory_order_seq_cst);
  }
}

ReaderSection::~ReaderSection() {
  if (slot_ == nullptr) return;
  if (--thread_state.depth == 0) slot_->store(0, std::memory_order_release);
}

void WaitForReaders() {
  Registry& r = TheRegistry();
  // Sections that saw an epoch below `target` may hold what was unpublished before this call;
  // sections opening from now on announce `target` or later and cannot.
  const uint64_t target = r.epoch.fetch_add(1, std::memory_order_seq_cst) + 1;
  const int high = r.high_water.load(std::memory_order_seq_cst);
  for (int i = 0; i < high; ++i) {
    int spins = 0;
    for (;;) {
      const uint64_t seen = r.slots[i].epoch.load(std::memory_order_seq_cst);
      if (seen == 0 || seen >= target) break;
      // Sections are short (one lookup, one batch slice): spin briefly, then sleep.
      if (++spins < 64) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }
}

}  // namespace sasmint::internal
