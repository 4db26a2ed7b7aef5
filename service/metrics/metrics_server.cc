#include "service/metrics/metrics_server.h"

#include <prometheus/exposer.h>

#include <exception>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sasmint {
namespace {

// CheckAddress accepts HOST:PORT and [V6]:PORT with a port in 0..65535; civetweb's own parser
// is lenient (a bare port listens on every interface).
absl::Status CheckAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\" is not HOST:PORT"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    absl::string_view address, const std::shared_ptr<prometheus::Collectable>& collectable) {
  if (absl::Status s = CheckAddress(address); !s.ok()) return s;
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  try {
    // civetweb takes "HOST:PORT" and "[V6]:PORT" as listening_ports; two threads answer scrapes.
    server->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", std::string(address), "num_threads", "2"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  server->exposer_->RegisterCollectable(collectable);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address));
  }
  server->port_ = ports.front();
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace sasmint
