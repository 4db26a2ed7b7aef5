#include "service/config/server_options.h"

#include "absl/strings/match.h"

namespace sasmint {

absl::Status ValidateTlsOptions(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("tls: cert_file and key_file go together");
  }
  if (!o.client_ca_file.empty() && o.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: client_ca_file needs cert_file and key_file (the server's own certificate)");
  }
  if (o.require_client_cert.value_or(false) && o.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: require_client_cert needs client_ca_file (the CA that signs client certificates)");
  }
  if (o.reload_interval_seconds < 0 || o.reload_interval_seconds > 86400) {
    return absl::InvalidArgumentError("tls: reload_interval_seconds must be 0 to 86400");
  }
  return absl::OkStatus();
}

absl::Status ValidateServerOptions(const ServerOptions& o) {
  if (absl::Status s = ValidateMintOptions(o.mint); !s.ok()) return s;
  if (o.listen_address.empty()) return absl::InvalidArgumentError("listen address is empty");
  if (o.admin_listen_address == o.listen_address && !absl::EndsWith(o.listen_address, ":0")) {
    return absl::InvalidArgumentError(
        "admin listen address must differ from the listen address (leave it unset to serve "
        "KeyAdmin on the main address)");
  }
  if (!o.health_listen_address.empty() && !absl::EndsWith(o.health_listen_address, ":0") &&
      (o.health_listen_address == o.listen_address ||
       o.health_listen_address == o.admin_listen_address)) {
    return absl::InvalidArgumentError(
        "health listen address must differ from the listen and admin addresses");
  }
  if (!o.metrics_listen_address.empty() && !absl::EndsWith(o.metrics_listen_address, ":0") &&
      (o.metrics_listen_address == o.listen_address ||
       o.metrics_listen_address == o.admin_listen_address ||
       o.metrics_listen_address == o.health_listen_address)) {
    return absl::InvalidArgumentError(
        "metrics listen address must differ from the listen, admin and health addresses");
  }
  if (absl::Status s = ValidateTlsOptions(o.tls); !s.ok()) return s;
  if (o.max_message_bytes < 1024) {
    return absl::InvalidArgumentError("max_message_bytes must be at least 1024");
  }
  if (o.max_concurrent_streams < 1) {
    return absl::InvalidArgumentError("max_concurrent_streams must be at least 1");
  }
  if (o.keepalive_min_ping_interval_seconds < 1 || o.max_ping_strikes < 0 ||
      o.shutdown_drain_ms < 0 || o.pool.threads < 0 || o.pool.slice_items == 0 ||
      o.pool.max_queued_batches == 0 || o.max_connection_idle_seconds < 0 ||
      o.max_connection_age_seconds < 0 || o.max_connection_age_grace_seconds < 0 ||
      o.shutdown_grace_seconds < 0) {
    return absl::InvalidArgumentError(
        "keepalive and connection limits must be non-negative (ping interval at least 1 s)");
  }
  return absl::OkStatus();
}

}  // namespace sasmint
