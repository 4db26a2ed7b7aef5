// series_csv.h: sasmint-bench's --series and --histogram files, for bench/load/plot.sh.
// Thread-compatible (no state).
#ifndef SASMINT_BENCH_LOAD_SERIES_CSV_H_
#define SASMINT_BENCH_LOAD_SERIES_CSV_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/load/histogram.h"
#include "bench/load/load_driver.h"

namespace sasmint::bench {

// WriteSeriesCsv writes one row per second: elapsed_s,phase,offered_rps,completed_rps,
// tokens_per_s,errors_per_s,p50_us,p99_us (p50/p99 empty for a second with no completion).
// UNAVAILABLE if the file cannot be written.
absl::Status WriteSeriesCsv(const std::string& path, const std::vector<SeriesRow>& rows);

// WriteHistogramCsv writes the non-empty buckets: upper_us,count,cumulative_fraction.
absl::Status WriteHistogramCsv(const std::string& path, const LatencyHistogram& histogram);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_SERIES_CSV_H_
