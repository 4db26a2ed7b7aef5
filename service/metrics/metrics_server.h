// metrics_server.h: the /metrics endpoint, prometheus-cpp's civetweb Exposer on a plaintext
// listener of its own.
//
// MetricsServer serves GET /metrics in the Prometheus text format (gzip when asked) from one
// Collectable, on its own threads. It holds a weak reference: the collectable may go first
// (scrapes then answer with nothing of it). Thread-safe.
#ifndef SASMINT_SERVICE_METRICS_METRICS_SERVER_H_
#define SASMINT_SERVICE_METRICS_METRICS_SERVER_H_

#include <prometheus/collectable.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace sasmint {

class MetricsServer {
 public:
  // Start listens on `address` ("HOST:PORT", "[V6]:PORT"; port 0 picks one) and serves
  // `collectable`. UNAVAILABLE if the address cannot be bound, INVALID_ARGUMENT if malformed.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      absl::string_view address, const std::shared_ptr<prometheus::Collectable>& collectable);
  ~MetricsServer();

  // port returns the bound TCP port.
  int port() const { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_METRICS_METRICS_SERVER_H_
