#include "bench/load/series_csv.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sasmint::bench {

absl::Status WriteSeriesCsv(const std::string& path, const std::vector<SeriesRow>& rows) {
  std::ofstream out(path);
  out << "elapsed_s,phase,offered_rps,completed_rps,tokens_per_s,errors_per_s,p50_us,p99_us\n";
  for (const SeriesRow& r : rows) {
    const double s = r.interval_s > 0 ? r.interval_s : 1;
    const SeriesWindow& w = r.window;
    out << absl::StrFormat("%.3f,%s,%.1f,%.1f,%.1f,%.1f,", r.elapsed_s, r.phase, w.started / s,
                           w.rpcs / s, w.tokens / s, w.errors / s);
    if (w.latency.count() > 0) {
      out << absl::StrFormat("%.1f,%.1f", w.latency.ValueAtPercentile(50) / 1e3,
                             w.latency.ValueAtPercentile(99) / 1e3);
    } else {
      out << ",";
    }
    out << "\n";
  }
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteHistogramCsv(const std::string& path, const LatencyHistogram& histogram) {
  std::ofstream out(path);
  out << "upper_us,count,cumulative_fraction\n";
  const std::vector<int64_t>& counts = histogram.counts();
  int64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    cumulative += counts[i];
    int64_t low = 0, width = 0;
    LatencyHistogram::BucketRange(static_cast<int>(i), &low, &width);
    out << absl::StrFormat("%.3f,%d,%.6f\n", (low + width) / 1e3, counts[i],
                           static_cast<double>(cumulative) / histogram.count());
  }
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace sasmint::bench
