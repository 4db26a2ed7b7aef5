// pacer.h: runs tasks at given monotonic times, for the open-loop schedule.
//
// gRPC's callback API has no timers we can cheaply use per request, and a caller must never
// sleep on a gRPC thread, so callers that are ahead of their schedule hand their next send to
// the pacer. One thread sleeps until the earliest due time and runs every task that is due.
// Tasks run on the pacer's thread and must not block. A task that runs late is still measured
// from its intended time by the caller, so pacer lateness shows in the latency it reports
// rather than hiding. Thread-safe.
#ifndef SASMINT_BENCH_LOAD_PACER_H_
#define SASMINT_BENCH_LOAD_PACER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sasmint::bench {

// MonotonicNanos returns the load client's clock: steady, in nanoseconds.
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class Pacer {
 public:
  Pacer();
  ~Pacer();  // stops the thread; tasks not yet due are dropped
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  // RunAt runs `task` on the pacer thread at `when_ns` (MonotonicNanos), or as soon as
  // possible if that has passed.
  void RunAt(int64_t when_ns, std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    int64_t when_ns;
    uint64_t seq;  // keeps equal times in submission order
    std::function<void()> task;
    bool operator>(const Entry& other) const {
      return when_ns != other.when_ns ? when_ns > other.when_ns : seq > other.seq;
    }
  };

  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::vector<Entry> heap_ ABSL_GUARDED_BY(mu_);  // a min-heap on (when_ns, seq)
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_PACER_H_
