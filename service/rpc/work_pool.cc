#include "service/rpc/work_pool.h"

#include "absl/strings/str_cat.h"

namespace sasmint {

WorkPool::WorkPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  if (threads < 1) threads = 1;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::Submit(SlicedTask* task) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() + running_ >= max_queued_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "server overloaded: ", queue_.size() + running_, " batches in progress; retry later"));
  }
  queue_.push_back(task);
  return absl::OkStatus();
}

size_t WorkPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size() + running_;
}

void WorkPool::Loop() {
  for (;;) {
    SlicedTask* task = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkPool* p)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return !p->queue_.empty() || p->stopping_; },
          this));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = queue_.front();
      queue_.pop_front();
      ++running_;
    }
    const bool more = task->RunSlice();
    if (more) {
      absl::MutexLock lock(&mu_);
      --running_;
      queue_.push_back(task);
    } else {
      task->Finish();
      absl::MutexLock lock(&mu_);
      --running_;
    }
  }
}

}  // namespace sasmint
