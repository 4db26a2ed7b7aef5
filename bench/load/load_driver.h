// load_driver.h: runs one load test against a sasmint server and returns its results.
//
// RunLoad opens the channels (each its own TCP connection), waits until every one is
// connected, then runs the callers (unary or batch RPCs, or stream slots over shared streams)
// for warm-up + duration, lets them finish the requests due in the window, and merges the
// results. Callers live on gRPC's callback threads (or, with --transport cq, on the driver's
// completion-queue threads, internal/cq_caller.h); the calling thread only reports progress.
// Thread-compatible (run one at a time per process: the pacer and gRPC threads are its own).
#ifndef SASMINT_BENCH_LOAD_LOAD_DRIVER_H_
#define SASMINT_BENCH_LOAD_LOAD_DRIVER_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "bench/load/load_options.h"
#include "bench/load/load_stats.h"
#include "bench/load/request_payloads.h"

namespace sasmint::bench {

// SeriesRow is one second of the run (--series).
struct SeriesRow {
  double elapsed_s = 0;  // at the end of the interval, since the callers started
  const char* phase = "warmup";
  double interval_s = 0;
  SeriesWindow window;
};

struct LoadResult {
  LoadTotals totals;
  std::vector<SeriesRow> series;  // with options.series_path only
  // The measurement window, stretched to the last measured completion when requests due in
  // the window completed after it (so tokens / seconds is the rate actually achieved).
  double seconds = 0;
};

// ProgressSample is what the once-a-second progress line shows.
struct ProgressSample {
  double elapsed_s = 0;          // since the callers started
  const char* phase = "warmup";  // "warmup", "measure" or "drain"
  double tokens_per_second = 0;  // over the last interval, measured or not
  int64_t errors = 0;            // so far, measured or not
  int64_t p99_ns = 0;            // of the measured requests so far (0: none yet)
  int64_t in_flight = 0;
  int64_t max_lag_ns = 0;  // latest a request went out after its due time, last interval
};

// RunLoad runs the load described by `options` with requests from `payloads`, calling
// `progress` (if set) about once a second on the calling thread. UNAVAILABLE if a channel
// cannot connect to the target within options.connect_timeout_s.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, RequestPayloads* payloads,
                                   const std::function<void(const ProgressSample&)>& progress);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_LOAD_DRIVER_H_
