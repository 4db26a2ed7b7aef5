// config.h: the service configuration file (`sasmint serve --config FILE`).
//
// A JSON object; every name is checked, so a misspelt option is an error, not a silent default.
// Relative paths are resolved against the configuration file's directory. Keys are given inline
// (`primary_key`) or, as Kubernetes mounts Secrets, in files (`primary_key_file`), and are kept
// decoded in SecretBytes only until BuildIdentityTable turns them into HMAC midstates. Error
// messages name the JSON path (e.g. `hubs[0].policies[1].rights`) and never contain key text.
//
//   {
//     "listen": "0.0.0.0:50051",
//     "malformed_export_lines": "fail",             // or "skip"
//     "hubs": [{
//       "host": "myhub.azure-devices.net",
//       "device_files": ["devices.json"],
//       "active_slot": "primary",                    // or "secondary"
//       "device_policy": "device",                   // optional: sign device tokens with it
//       "policies": [{"name": "device", "rights": ["DeviceConnect"],
//                     "primary_key_file": "/secrets/device-policy-primary"}]
//     }],
//     "dps": [{"id_scope": "0ne00000001",
//              "groups": [{"name": "sensors", "registration_prefix": "sensor-",
//                          "primary_key": "<base64>"}]}],
//     "limits": {"default_ttl_seconds": 3600, "min_ttl_seconds": 60, "max_ttl_seconds": 86400,
//                "renew_window_start": 0.70, "renew_window_end": 0.85, "max_batch_size": 10000,
//                "dps_key_cache_size": 100000,
//                "max_message_bytes": 16777216, "max_concurrent_streams": 100,
//                "keepalive_min_ping_interval_seconds": 10, "max_connection_idle_seconds": 0,
//                "max_connection_age_seconds": 3600, "max_connection_age_grace_seconds": 60,
//                "worker_threads": 0, "slice_items": 256, "max_queued_batches": 4096,
//                "shutdown_drain_ms": 500, "shutdown_grace_seconds": 10},
//     "admin": {"enabled": true,                    // false: KeyAdmin answers UNIMPLEMENTED
//               "listen": "127.0.0.1:7001",         // optional: KeyAdmin only there
//               "authoritative": false,             // true: admin changes survive reloads
//               "max_entries_per_request": 10000},
//     "rotation": {"retired_keep_seconds": 604800, "retired_keep_count": 2},
//     "tls": {"cert_file": "tls.crt", "key_file": "tls.key",      // TLS on listen and admin
//             "client_ca_file": "clients-ca.crt",                 // mTLS: verify callers
//             "require_client_cert": true},                       // default with a client CA
//     "health_listen": "0.0.0.0:8081",               // optional: plaintext health only
//     "callers": [                                   // optional: who may mint what
//       {"name": "gateway-eu", "match": {"common_name": "gw-eu-1"},  // or san, spiffe,
//        "allow": [{"hub": "eu.azure-devices.net", "devices": ["eu-*"], "modules": true},
//                  {"hub": "eu.azure-devices.net", "policies": ["device-svc"]},
//                  {"id_scope": "0ne000A1B2C", "registrations": ["eu-*"]}]},
//       {"name": "ops", "match": {"common_name": "ops"}, "admin": true}]  // {"anonymous": true}
//   }
//
// Without "callers" every caller may mint for every identity; with it, see
// service/authz/caller_rules.h and authorizer.h. Each section has its own parser
// (internal/sections.h); BuildIdentityTable is in identity_table_builder.cc.
//
// Functions are thread-safe; ServiceConfig is a move-only value (thread-compatible).
#ifndef SASMINT_SERVICE_CONFIG_CONFIG_H_
#define SASMINT_SERVICE_CONFIG_CONFIG_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/admin/key_admin.h"
#include "service/config/server_options.h"
#include "service/keystore/export_loader.h"
#include "service/keystore/key_store.h"
#include "signer/secret_bytes.h"

namespace sasmint {

struct KeyPairConfig {
  std::optional<SecretBytes> primary;
  std::optional<SecretBytes> secondary;
};

struct PolicyConfig {
  std::string name;
  uint32_t rights = 0;
  KeyPairConfig keys;
};

struct HubConfig {
  std::string host;
  std::vector<std::string> device_files;  // absolute, or relative to the working directory
  HubSettings settings;
  std::vector<PolicyConfig> policies;
};

struct DpsGroupConfig {
  std::string name;
  std::string registration_prefix;
  KeyPairConfig keys;
};

struct DpsConfig {
  std::string id_scope;
  std::vector<DpsGroupConfig> groups;
};

struct ServiceConfig {
  ServerOptions server;  // listen address, mint options and server limits
  // "malformed_export_lines": "fail" (default: a bad line fails the load, or the reload, which
  // then keeps the previous keys) or "skip" (bad lines are skipped, counted and logged).
  ExportLoadOptions export_options;
  // "admin" (but its listen address, in server) and "rotation".
  KeyAdminOptions admin;
  std::vector<HubConfig> hubs;
  std::vector<DpsConfig> dps;
  std::string source;  // the file it was read from, for messages
  // watched_files are the files the keys come from: the configuration file itself, device
  // export files and key files (what hot reload watches).
  std::vector<std::string> watched_files;
};

// ParseConfig parses configuration text; `source` names it in errors and `base_dir` resolves
// relative paths. INVALID_ARGUMENT "source: path: reason" for malformed JSON, unknown names,
// wrong types, bad values or keys; NOT_FOUND for an unreadable key file.
absl::StatusOr<ServiceConfig> ParseConfig(absl::string_view text, absl::string_view source,
                                          absl::string_view base_dir);

// LoadConfigFile reads and parses the file at `path`; NOT_FOUND if it cannot be read.
absl::StatusOr<ServiceConfig> LoadConfigFile(const std::string& path);

// BuildIdentityTable loads every hub's device files and turns policies and enrollment groups
// into a table ready to publish. Errors are those of LoadExportFile, or INVALID_ARGUMENT for a
// device_policy that names no DeviceConnect policy of its hub. The table is not yet shared:
// KeyAdmin::PublishFileTable sets its versions and history before publishing it.
absl::StatusOr<std::shared_ptr<IdentityTable>> BuildIdentityTable(const ServiceConfig& config);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_CONFIG_CONFIG_H_
