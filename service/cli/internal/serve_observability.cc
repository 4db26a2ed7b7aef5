#include "service/cli/internal/serve_observability.h"

#include <sys/stat.h>

#include <mutex>
#include <utility>

#include "common/pem_file.h"
#include "service/metrics/families.h"
#include "service/metrics/process_metrics.h"
#include "service/verify/certificate.h"
#include "signer/crypto_backend.h"

#ifndef SASMINT_VERSION
#define SASMINT_VERSION "dev"
#endif

namespace sasmint::cli::internal {
namespace {

// IdentityCounts counts a table's devices and modules once per generation: walking ten million
// identities at every scrape would cost more than the scrape.
class IdentityCounts {
 public:
  std::pair<uint64_t, uint64_t> Get(const KeyStore& store) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t generation = store.generation();
    if (generation != generation_) {
      devices_ = modules_ = 0;
      if (std::shared_ptr<const IdentityTable> table = store.Snapshot()) {
        table->ForEachIdentity([this](const IdentityRef& id) {
          if (id.module_id().empty()) {
            ++devices_;
          } else {
            ++modules_;
          }
        });
        policies_ = table->policy_count();
        groups_ = table->dps_group_count();
      }
      generation_ = generation;
    }
    return {devices_, modules_};
  }
  uint64_t policies() const { return policies_; }
  uint64_t groups() const { return groups_; }

 private:
  std::mutex mu_;
  uint64_t generation_ = ~uint64_t{0};
  uint64_t devices_ = 0, modules_ = 0, policies_ = 0, groups_ = 0;
};

}  // namespace

int64_t NewestModificationTime(const std::vector<std::string>& paths) {
  int64_t newest = 0;
  for (const std::string& p : paths) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && st.st_mtime > newest) newest = st.st_mtime;
  }
  return newest;
}

ServiceMetrics::Info MetricsInfo(const std::string& signer) {
  ServiceMetrics::Info info;
  info.version = SASMINT_VERSION;
#if defined(__clang__)
  info.compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  info.compiler = std::string("gcc ") + __VERSION__;
#endif
  info.crypto = std::string(crypto::BackendName());
  info.isa = signer.substr(0, signer.find(' '));
  return info;
}

void AddServeCollectors(ServiceMetrics& metrics, const KeyStore* store, const Server* server,
                        std::vector<std::string> watched_files, const KeyFileTimes* times,
                        const AuditLog* audit, std::string cert_file) {
  auto counts = std::make_shared<IdentityCounts>();
  metrics.AddCollector([store, counts](std::vector<prometheus::MetricFamily>& out) {
    const auto [devices, modules] = counts->Get(*store);
    prometheus::MetricFamily f =
        Family("sasmint_keystore_identities", "Identities and key sources served, by kind.",
               prometheus::MetricType::Gauge);
    AddValue(f, {{"kind", "device"}}, static_cast<double>(devices));
    AddValue(f, {{"kind", "module"}}, static_cast<double>(modules));
    AddValue(f, {{"kind", "policy"}}, static_cast<double>(counts->policies()));
    AddValue(f, {{"kind", "dps_group"}}, static_cast<double>(counts->groups()));
    out.push_back(std::move(f));
    AddGauge(out, "sasmint_keystore_generation",
             "Tables published (each reload and KeyAdmin change publishes one).",
             static_cast<double>(store->generation()));
  });
  metrics.AddCollector(
      [files = std::move(watched_files), times](std::vector<prometheus::MetricFamily>& out) {
        AddGauge(out, "sasmint_keystore_last_reload_success_timestamp_seconds",
                 "When the keys served were loaded (start or reload), Unix seconds.",
                 static_cast<double>(times->loaded_at.load()));
        if (files.empty()) return;
        AddGauge(out, "sasmint_keystore_source_modified_timestamp_seconds",
                 "Newest modification time among the key files on disk, Unix seconds.",
                 static_cast<double>(NewestModificationTime(files)));
        AddGauge(out, "sasmint_keystore_loaded_source_timestamp_seconds",
                 "Newest modification time among the key files when the keys served were loaded.",
                 static_cast<double>(times->loaded_source_mtime.load()));
      });
  metrics.AddCollector([server](std::vector<prometheus::MetricFamily>& out) {
    const DerivedKeyCache& cache = server->derived_keys();
    prometheus::MetricFamily hits =
        Family("sasmint_dps_derived_key_cache_hits_total",
               "DPS device keys found in the derived-key cache.", prometheus::MetricType::Counter);
    AddValue(hits, {}, static_cast<double>(cache.hits()));
    out.push_back(std::move(hits));
    prometheus::MetricFamily misses =
        Family("sasmint_dps_derived_key_cache_misses_total",
               "DPS device keys derived (not in the cache).", prometheus::MetricType::Counter);
    AddValue(misses, {}, static_cast<double>(cache.misses()));
    out.push_back(std::move(misses));
    AddGauge(out, "sasmint_dps_derived_key_cache_entries", "DPS device keys in the cache.",
             static_cast<double>(cache.size()));
    AddGauge(out, "sasmint_ready", "1 while readiness is SERVING.",
             server->readiness()->load() ? 1 : 0);
  });
  if (audit != nullptr) {
    metrics.AddCollector([audit](std::vector<prometheus::MetricFamily>& out) {
      const AuditLog::Stats s = audit->stats();
      prometheus::MetricFamily records =
          Family("sasmint_audit_records_total",
                 "Audit records: written; dropped (not queued, call served); refused (not "
                 "queued, call refused: audit.required); write_error (queued, not written).",
                 prometheus::MetricType::Counter);
      AddValue(records, {{"result", "written"}}, static_cast<double>(s.written));
      AddValue(records, {{"result", "dropped"}}, static_cast<double>(s.dropped));
      AddValue(records, {{"result", "refused"}}, static_cast<double>(s.refused));
      AddValue(records, {{"result", "write_error"}}, static_cast<double>(s.write_errors));
      out.push_back(std::move(records));
      AddGauge(out, "sasmint_audit_queue_depth", "Audit records waiting for the writer.",
               static_cast<double>(s.queued));
      AddGauge(out, "sasmint_audit_sink_up", "1 while the audit sink accepts writes.",
               s.sink_up ? 1 : 0);
    });
  }
  if (!cert_file.empty()) {
    metrics.AddCollector([cert_file](std::vector<prometheus::MetricFamily>& out) {
      absl::StatusOr<std::string> pem = ReadPemFile(cert_file, "certificate");
      if (!pem.ok()) return;
      absl::StatusOr<CertificateInfo> info = ParseCertificatePem(*pem);
      if (!info.ok()) return;
      AddGauge(out, "sasmint_tls_certificate_expiry_timestamp_seconds",
               "notAfter of the serving certificate on disk, Unix seconds.",
               static_cast<double>(info->not_after));
    });
  }
  metrics.AddCollector(
      [](std::vector<prometheus::MetricFamily>& out) { CollectProcessMetrics(out); });
}

}  // namespace sasmint::cli::internal
