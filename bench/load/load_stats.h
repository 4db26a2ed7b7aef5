// load_stats.h: collects every request's outcome and latency from many gRPC threads at once.
//
// Completions arrive on gRPC's callback threads. Each thread records into its own shard (a
// mutex that is almost never contended, a histogram and counters); Totals merges the shards,
// cheaply enough to run once a second for the progress line. Only requests whose intended send
// time falls in the measurement window are "measured" (warm-up and drain are excluded); the
// live counters for the progress line see everything. Thread-safe.
#ifndef SASMINT_BENCH_LOAD_LOAD_STATS_H_
#define SASMINT_BENCH_LOAD_LOAD_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/load/histogram.h"
#include "bench/load/outcome.h"

namespace sasmint::bench {

struct LoadTotals {
  int64_t tokens = 0;
  int64_t errors = 0;
  std::array<int64_t, kCodeSlots> errors_by_code{};
  int64_t rpcs = 0;         // requests completed (stream messages count as requests)
  int64_t failed_rpcs = 0;  // of which the RPC itself failed
  // Requests that were due in the window but never sent before the run gave up on them
  // (open loop, client or server far behind the offered rate).
  int64_t unsent = 0;
  // Latency of requests whose RPC succeeded, from intended send time to completion; unsent
  // requests are in it too, at a lower bound of their latency.
  LatencyHistogram latency;
  int64_t last_completion_ns = 0;  // on the run's monotonic clock

  void Merge(const LoadTotals& other);
};

// SeriesWindow is what completed in one interval of the run (measured or not), for --series.
struct SeriesWindow {
  int64_t started = 0;  // requests put on the wire
  int64_t rpcs = 0;     // requests completed
  int64_t tokens = 0;
  int64_t errors = 0;        // tokens that failed, and failed RPCs' tokens
  LatencyHistogram latency;  // of the requests completed, from intended send time
};

class Recorder {
 public:
  Recorder() = default;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Record counts one completed request that was due at `intended_ns` and completed at
  // `done_ns` (monotonic nanoseconds); `measured` says whether it counts in the results.
  void Record(const Outcome& outcome, int64_t intended_ns, int64_t done_ns, bool measured);

  // RecordUnsent counts `count` measured requests that were never sent, whose latency was at
  // least `latency_ns` when the run stopped waiting for them.
  void RecordUnsent(int64_t latency_ns, int64_t count);

  // RequestStarted notes a request put on the wire `lag_ns` after its intended send time.
  void RequestStarted(int64_t lag_ns);
  // RequestAbandoned takes back a RequestStarted whose request could not be sent.
  void RequestAbandoned() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  // Totals returns the measured results so far.
  LoadTotals Totals() const;

  // TakeWindow returns what happened since the previous call (or the start) and starts a new
  // window; only kept with KeepWindows (a --series run).
  SeriesWindow TakeWindow();
  void KeepWindows() { keep_windows_ = true; }

  // Live counters for the progress line: everything completed so far, measured or not.
  int64_t live_tokens() const { return live_tokens_.load(std::memory_order_relaxed); }
  int64_t live_errors() const { return live_errors_.load(std::memory_order_relaxed); }
  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  // TakeMaxLag returns the largest send lag since the previous call, and resets it.
  int64_t TakeMaxLag() { return max_lag_ns_.exchange(0, std::memory_order_relaxed); }

 private:
  static constexpr int kShards = 16;

  struct alignas(64) Shard {
    mutable absl::Mutex mu;
    LoadTotals totals ABSL_GUARDED_BY(mu);
    SeriesWindow window ABSL_GUARDED_BY(mu);
  };

  Shard& ThisThreadsShard();

  std::array<Shard, kShards> shards_;
  std::atomic<int64_t> live_tokens_{0};
  std::atomic<int64_t> live_errors_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> max_lag_ns_{0};
  std::atomic<int64_t> started_{0};
  int64_t started_taken_ = 0;  // TakeWindow's caller only
  bool keep_windows_ = false;  // set before the run starts
};

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_LOAD_STATS_H_
