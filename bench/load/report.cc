#include "bench/load/report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"

namespace sasmint::bench {
namespace {

std::string Millis(int64_t ns) { return absl::StrFormat("%.4f", static_cast<double>(ns) / 1e6); }

std::string Number(double v) { return absl::StrFormat("%.6g", v); }

}  // namespace

std::string FormatReport(const LoadOptions& options, size_t identities, const LoadResult& result) {
  const LoadTotals& t = result.totals;
  const LatencyHistogram& h = t.latency;
  const auto percentile = [&h](double p) {
    return h.count() == 0 ? std::string("null") : Millis(h.ValueAtPercentile(p));
  };
  std::string codes = "{";
  for (int slot = 0; slot < kCodeSlots; ++slot) {
    if (t.errors_by_code[slot] == 0) continue;
    if (codes.size() > 1) codes.push_back(',');
    absl::StrAppend(&codes, JsonString(ErrorCodeName(slot)), ":", t.errors_by_code[slot]);
  }
  codes.push_back('}');
  const double seconds = result.seconds > 0 ? result.seconds : 1;
  std::string out = "{";
  absl::StrAppend(&out, "\"mode\":", JsonString(options.ModeName()),
                  ",\"target\":", JsonString(options.target), ",\"hub\":", JsonString(options.hub),
                  ",\"identities\":", identities, ",\"concurrency\":", options.concurrency,
                  ",\"channels\":", options.channels);
  absl::StrAppend(
      &out,
      ",\"streams\":", options.mode == LoadMode::kStream ? absl::StrCat(options.streams) : "null",
      ",\"rate\":", options.rate ? Number(*options.rate) : "null", ",\"ttl\":", options.ttl_seconds,
      ",\"warmup_seconds\":", Number(options.warmup_s),
      ",\"duration_seconds\":", Number(options.duration_s));
  const bool cq = options.transport == LoadTransport::kCq;
  absl::StrAppend(&out, ",\"transport\":", JsonString(options.TransportName()),
                  ",\"client_threads\":", cq ? absl::StrCat(options.client_threads) : "null");
  absl::StrAppend(&out, ",\"seconds\":", absl::StrFormat("%.3f", result.seconds),
                  ",\"tokens\":", t.tokens, ",\"errors\":", t.errors, ",\"errors_by_code\":", codes,
                  ",\"rpcs\":", t.rpcs, ",\"failed_rpcs\":", t.failed_rpcs,
                  ",\"unsent\":", t.unsent);
  absl::StrAppend(
      &out, ",\"tokens_per_second\":", absl::StrFormat("%.1f", t.tokens / seconds),
      ",\"rpcs_per_second\":", absl::StrFormat("%.1f", t.rpcs / seconds),
      ",\"latency_samples\":", h.count(), ",\"p50_ms\":", percentile(50),
      ",\"p90_ms\":", percentile(90), ",\"p99_ms\":", percentile(99),
      ",\"p999_ms\":", percentile(99.9), ",\"max_ms\":", h.count() == 0 ? "null" : Millis(h.max()),
      ",\"mean_ms\":", h.count() == 0 ? "null" : absl::StrFormat("%.4f", h.mean() / 1e6), "}");
  return out;
}

std::string FormatProgress(const ProgressSample& s) {
  return absl::StrFormat(
      "sasmint-bench: %6.1fs %-7s %12.0f tokens/s  errors %d  p99 %s  in-flight %d  lag %.1f ms",
      s.elapsed_s, s.phase, s.tokens_per_second, s.errors,
      s.p99_ns == 0 ? std::string("-") : absl::StrCat(Millis(s.p99_ns), " ms"), s.in_flight,
      static_cast<double>(s.max_lag_ns) / 1e6);
}

}  // namespace sasmint::bench
