// families.h: building Prometheus metric families (prometheus-cpp's data model) by hand, for
// collectors that report state they read at scrape time. Thread-safe (no state).
#ifndef SASMINT_SERVICE_METRICS_FAMILIES_H_
#define SASMINT_SERVICE_METRICS_FAMILIES_H_

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace sasmint {

using Labels = std::vector<prometheus::ClientMetric::Label>;

// Family returns an empty family.
prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type);

// AddValue adds a counter or gauge sample (as the family's type says) with `labels`.
void AddValue(prometheus::MetricFamily& family, Labels labels, double value);

// AddHistogram adds a histogram sample with `labels`.
void AddHistogram(prometheus::MetricFamily& family, Labels labels,
                  prometheus::ClientMetric::Histogram histogram);

// AddGauge appends a family of one gauge sample to `out`.
void AddGauge(std::vector<prometheus::MetricFamily>& out, std::string name, std::string help,
              double value, Labels labels = {});

}  // namespace sasmint

#endif  // SASMINT_SERVICE_METRICS_FAMILIES_H_
