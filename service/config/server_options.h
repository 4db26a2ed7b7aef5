// server_options.h: what a server is to be: listeners, TLS files, callers, token rules, limits
// and shutdown timing. Plain data that the configuration (config.h) and the command line fill
// and the gRPC server (service/rpc/server.h) reads; no gRPC here.
#ifndef SASMINT_SERVICE_CONFIG_SERVER_OPTIONS_H_
#define SASMINT_SERVICE_CONFIG_SERVER_OPTIONS_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "service/audit/audit_log.h"
#include "service/authz/authorizer.h"
#include "service/metrics/service_metrics.h"
#include "service/mint/mint_options.h"

namespace sasmint {

// TlsOptions name the PEM files of the main and admin listeners.
struct TlsOptions {
  std::string cert_file;       // PEM certificate chain; TLS is on when set
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // PEM CA certificates that sign client certificates
  // Whether a client certificate is required; unset means "when client_ca_file is set". When not
  // required, a client may connect without one and is then "anonymous".
  std::optional<bool> require_client_cert;
  // How often the three files are read again, so that a renewed certificate or CA bundle (a
  // cert-manager renewal, a kubelet Secret swap) is served to new connections without a restart.
  // A new pair whose key does not match its certificate is ignored (the old pair stays). 0 reads
  // them once, at start.
  int reload_interval_seconds = 60;

  bool enabled() const { return !cert_file.empty(); }
  bool requires_client_cert() const {
    return require_client_cert.value_or(!client_ca_file.empty());
  }
};

// ValidateTlsOptions returns INVALID_ARGUMENT ("tls: ...") for a certificate without key (or the
// reverse), a client CA without server certificate, or require_client_cert without client CA.
absl::Status ValidateTlsOptions(const TlsOptions& options);

// PoolOptions size the pool that mints large batches off gRPC's callback threads.
struct PoolOptions {
  int threads = 0;           // 0: one per CPU
  size_t slice_items = 256;  // batches larger than this go to the pool, a slice at a time
  size_t max_queued_batches = 4096;
};

struct ServerOptions {
  std::string listen_address = "127.0.0.1:50051";
  // admin_listen_address, if set, serves KeyAdmin there and not on listen_address.
  std::string admin_listen_address;
  // key_admin_enabled false answers every KeyAdmin call UNIMPLEMENTED (on every listener), for
  // deployments where key changes must come from the files alone (several replicas without a
  // shared admin store would each keep their own changes).
  bool key_admin_enabled = true;
  // health_listen_address, if set, serves only the health service there, in plaintext.
  std::string health_listen_address;
  TlsOptions tls;  // the main and admin listeners'
  // authorizer decides who may mint what; null (or disabled) means every caller may mint
  // for every identity.
  std::shared_ptr<const Authorizer> authorizer;
  MintOptions mint;
  // Limits. Debian's gRPC 1.51 predates fixes for several HTTP/2 flood attacks, so connections
  // are bounded in streams, ping rate and age.
  int max_message_bytes = 16 * 1024 * 1024;
  int max_concurrent_streams = 100;              // per connection
  int keepalive_min_ping_interval_seconds = 10;  // faster client pings are strikes
  int max_ping_strikes = 2;                      // then the connection is closed (GOAWAY)
  int max_connection_idle_seconds = 0;           // 0 = unlimited
  int max_connection_age_seconds = 3600;         // 0 = unlimited; clients then reconnect,
  int max_connection_age_grace_seconds = 60;     // which also rebalances them across replicas
  PoolOptions pool;                              // large batches are minted here
  int shutdown_drain_ms = 500;                   // refuse new work this long before closing
  int shutdown_grace_seconds = 10;               // in-flight work finishes within this

  // metrics_listen_address, if set, serves /metrics there (the caller that owns `metrics`
  // starts the endpoint).
  std::string metrics_listen_address;
  // audit, if set, is the audit log's configuration (the caller opens `audit_log` from it).
  std::optional<AuditOptions> audit;
  // Where calls are counted and audited, owned by the caller that runs the server; null: not
  // counted, not audited.
  std::shared_ptr<ServiceMetrics> metrics;
  std::shared_ptr<AuditLog> audit_log;
};

// ValidateServerOptions returns INVALID_ARGUMENT naming the first bad option.
absl::Status ValidateServerOptions(const ServerOptions& options);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_CONFIG_SERVER_OPTIONS_H_
