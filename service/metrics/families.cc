#include "service/metrics/families.h"

#include <utility>

namespace sasmint {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddValue(prometheus::MetricFamily& family, Labels labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else if (family.type == prometheus::MetricType::Gauge) {
    m.gauge.value = value;
  } else {
    m.untyped.value = value;
  }
  family.metric.push_back(std::move(m));
}

void AddHistogram(prometheus::MetricFamily& family, Labels labels,
                  prometheus::ClientMetric::Histogram histogram) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.histogram = std::move(histogram);
  family.metric.push_back(std::move(m));
}

void AddGauge(std::vector<prometheus::MetricFamily>& out, std::string name, std::string help,
              double value, Labels labels) {
  prometheus::MetricFamily f =
      Family(std::move(name), std::move(help), prometheus::MetricType::Gauge);
  AddValue(f, std::move(labels), value);
  out.push_back(std::move(f));
}

}  // namespace sasmint
