// work_pool.h: a fixed pool of threads that runs sliced work fairly.
//
// Large mint batches must not block gRPC's callback threads nor starve other callers: a batch is
// a SlicedTask whose RunSlice() does a bounded amount of work. The pool runs one slice of the task
// at the head of its queue, then puts the task at the back if it has more to do, so concurrent
// batches advance round-robin, one slice each. Submit refuses work beyond a bound on queued tasks
// (overload shedding: gRPC's callback API has none of its own). Thread-safe.
#ifndef SASMINT_SERVICE_RPC_WORK_POOL_H_
#define SASMINT_SERVICE_RPC_WORK_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

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
  absl::Status Submit(SlicedTask* task) ABSL_LOCKS_EXCLUDED(mu_);

  // queued returns the number of tasks waiting or running.
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<SlicedTask*> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_WORK_POOL_H_
