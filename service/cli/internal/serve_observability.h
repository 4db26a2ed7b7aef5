// serve_observability.h: what `serve` adds to the metrics besides the hot-path counters: the key
// store, the key files' times, the DPS cache, the audit log, readiness, the TLS certificate and
// the process, each read at scrape time. Thread-safe.
#ifndef SASMINT_SERVICE_CLI_INTERNAL_SERVE_OBSERVABILITY_H_
#define SASMINT_SERVICE_CLI_INTERNAL_SERVE_OBSERVABILITY_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "service/audit/audit_log.h"
#include "service/keystore/key_store.h"
#include "service/metrics/service_metrics.h"
#include "service/rpc/server.h"

namespace sasmint::cli::internal {

// KeyFileTimes is when the loaded keys were loaded and how new their files were then.
struct KeyFileTimes {
  std::atomic<int64_t> loaded_at{0};            // Unix seconds of the last successful load
  std::atomic<int64_t> loaded_source_mtime{0};  // newest mtime of the files loaded then
};

// NewestModificationTime returns the newest modification time (Unix seconds) among `paths`
// that exist, or 0.
int64_t NewestModificationTime(const std::vector<std::string>& paths);

// MetricsInfo returns what sasmint_build_info and sasmint_signer_info say for `signer` (a
// BatchSigner description, "avx512 (...)").
ServiceMetrics::Info MetricsInfo(const std::string& signer);

// AddServeCollectors registers the collectors on `metrics`. Everything passed must outlive the
// metrics endpoint; `audit` may be null, `cert_file` empty (no TLS).
void AddServeCollectors(ServiceMetrics& metrics, const KeyStore* store, const Server* server,
                        std::vector<std::string> watched_files, const KeyFileTimes* times,
                        const AuditLog* audit, std::string cert_file);

}  // namespace sasmint::cli::internal

#endif  // SASMINT_SERVICE_CLI_INTERNAL_SERVE_OBSERVABILITY_H_
