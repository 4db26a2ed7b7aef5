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
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::Submit(SlicedTask* task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() + running_ >= max_queued_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "server overloaded: ", queue_.size() + running_, " batches in progress; retry later"));
    }
    queue_.push_back(task);
  }
  ready_.notify_one();
  return absl::OkStatus();
}

size_t WorkPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + running_;
}

void WorkPool::Loop() {
  for (;;) {
    SlicedTask* task = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      task = queue_.front();
      queue_.pop_front();
      ++running_;
    }
    const bool more = task->RunSlice();
    if (more) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        --running_;
        queue_.push_back(task);
      }
      ready_.notify_one();
    } else {
      task->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
    }
  }
}

}  // namespace sasmint
