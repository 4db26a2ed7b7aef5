// process_metrics.h: the process_* metrics every Prometheus client library exports, read from
// /proc/self at scrape time (prometheus-cpp has no process collector). Thread-safe.
#ifndef SASMINT_SERVICE_METRICS_PROCESS_METRICS_H_
#define SASMINT_SERVICE_METRICS_PROCESS_METRICS_H_

#include <prometheus/metric_family.h>

#include <vector>

namespace sasmint {

// CollectProcessMetrics appends process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds to `out`; a value that cannot be read is left out.
void CollectProcessMetrics(std::vector<prometheus::MetricFamily>& out);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_METRICS_PROCESS_METRICS_H_
