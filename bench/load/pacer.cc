#include "bench/load/pacer.h"

#include <algorithm>
#include <utility>

#include "absl/time/time.h"

namespace sasmint::bench {

Pacer::Pacer() : thread_([this] { Loop(); }) {}

Pacer::~Pacer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  thread_.join();
}

void Pacer::RunAt(int64_t when_ns, std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  const bool new_head = heap_.empty() || when_ns < heap_.front().when_ns;
  heap_.push_back(Entry{when_ns, next_seq_++, std::move(task)});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  // Only a new earliest entry changes how long the thread should sleep.
  if (new_head) wake_.Signal();
}

void Pacer::Loop() {
  std::vector<std::function<void()>> due;
  mu_.Lock();
  while (!stopping_) {
    if (heap_.empty()) {
      wake_.Wait(&mu_);
      continue;
    }
    const int64_t now = MonotonicNanos();
    const int64_t head = heap_.front().when_ns;
    if (head > now) {
      wake_.WaitWithTimeout(&mu_, absl::Nanoseconds(head - now));
      continue;
    }
    // Take every due task, then run them unlocked: a task may call RunAt.
    while (!heap_.empty() && heap_.front().when_ns <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
      due.push_back(std::move(heap_.back().task));
      heap_.pop_back();
    }
    mu_.Unlock();
    for (auto& task : due) task();
    due.clear();
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace sasmint::bench
