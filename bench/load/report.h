// report.h: the text sasmint-bench prints: the progress line and the final JSON object.
//
// The JSON object is the load client's contract with scripts: one line, the last on stdout,
// with at least tokens, errors, seconds, tokens_per_second, p50_ms, p90_ms, p99_ms, p999_ms,
// mode, concurrency, rate (null in closed loop) and errors_by_code (an object of gRPC code
// names, only codes that occurred). Percentiles are of RPCs that succeeded (per-item errors
// in a batch do not fail its RPC) and are null when there are none. Also: transport
// ("callback" or "cq") and client_threads (null for callback). Thread-safe (no state).
#ifndef SASMINT_BENCH_LOAD_REPORT_H_
#define SASMINT_BENCH_LOAD_REPORT_H_

#include <cstddef>
#include <string>

#include "bench/load/load_driver.h"
#include "bench/load/load_options.h"

namespace sasmint::bench {

// FormatReport returns the JSON object, without a trailing newline.
std::string FormatReport(const LoadOptions& options, size_t identities, const LoadResult& result);

// FormatProgress returns one progress line, without a trailing newline.
std::string FormatProgress(const ProgressSample& sample);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_REPORT_H_
