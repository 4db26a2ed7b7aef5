// work_pool.h: a fixed pool of threads that runs sliced work fairly.
//
// Large mint batches must not block gRPC's callback threads nor starve other callers: a batch is
// a SlicedTask whose RunSlice() does a bounded amount of work. The pool runs one slice of the task
// at the head of its queue, then puts the task at the back if it has more to do, so concurrent
// batches advance round-robin, one slice each. Submit refuses work beyond a bound on queued tasks
// (overload shedding: gRPC's callback API has none of its own). Thread-safe.
//
// std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer, which
// then cannot see absl::Mutex's ordering and reports false races on what it guards; the pool is
// checked under ThreadSanitizer in CI.
#ifndef SASMINT_SERVICE_RPC_WORK_POOL_H_
#define SASMINT_SERVICE_RPC_WORK_POOL_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace sasmint {

class SlicedTask {
 public:
  virtual ~SlicedTask() = default;
  // RunSlice does the next slice of work; returns true if more remains. Called by one pool
  // thread at a time.
  virtual bool RunSlice() = 0;
  // Finish is called once, after the last slice, and may delete the task.
  virtual void Finish() = 0;
};

class WorkPool {
 public:
  // WorkPool starts `threads` threads (at least 1); at most `max_queued` tasks wait at once.
  WorkPool(int threads, size_t max_queued);
  // ~WorkPool runs every queued task to completion, then joins the threads.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Submit queues `task` (not owned; it lives until its Finish). RESOURCE_EXHAUSTED, without
  // touching the task, if the queue is full.
  absl::Status Submit(SlicedTask* task);

  // queued returns the number of tasks waiting or running.
  size_t queued() const;

 private:
  void Loop();

  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable ready_;  // a task was queued, or the pool is stopping
  // Guarded by mu_:
  std::deque<SlicedTask*> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_WORK_POOL_H_
