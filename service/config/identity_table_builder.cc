#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "service/config/config.h"
#include "service/keystore/export_loader.h"

// BuildIdentityTable (config.h): the configuration's key sources made into one table.
namespace sasmint {
namespace {

std::optional<StoredKey> PrepareOptional(const std::optional<SecretBytes>& key) {
  if (!key) return std::nullopt;
  StoredKey stored{HmacKey::FromSecret(*key), {}};
  stored.fingerprint = stored.hmac.Fingerprint();
  return stored;
}

}  // namespace

absl::StatusOr<std::shared_ptr<IdentityTable>> BuildIdentityTable(const ServiceConfig& config) {
  auto table = std::make_shared<IdentityTable>();
  for (const HubConfig& hub : config.hubs) {
    if (auto s = table->AddHub(hub.host, hub.settings); !s.ok()) return s;
    for (const PolicyConfig& policy : hub.policies) {
      PolicyEntry entry;
      entry.name = policy.name;
      entry.rights = policy.rights;
      entry.primary = PrepareOptional(policy.keys.primary);
      entry.secondary = PrepareOptional(policy.keys.secondary);
      entry.source = config.source;
      if (auto s = table->AddPolicy(hub.host, std::move(entry)); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(config.source, ": ", s.message()));
      }
    }
    for (const std::string& file : hub.device_files) {
      ExportLoadStats stats;
      ExportLoadOptions options = config.export_options;
      // A large export takes seconds: say how far it has got, once a second.
      const absl::Time start = absl::Now();
      absl::Time last_log = start;
      options.progress = [&](size_t bytes, size_t lines, size_t size) {
        const absl::Time now = absl::Now();
        if (now - last_log < absl::Seconds(1)) return;
        last_log = now;
        const double seconds = absl::ToDoubleSeconds(now - start);
        Log(LogLevel::kInfo, "loading device export",
            {{"file", file},
             {"identities", absl::StrCat(lines)},
             {"percent", absl::StrCat(size == 0 ? 100 : bytes * 100 / size)},
             {"identities_per_second",
              absl::StrCat(static_cast<int64_t>(seconds > 0 ? lines / seconds : 0))}});
      };
      if (auto s = LoadExportFile(file, hub.host, table.get(), options, &stats); !s.ok()) {
        return s;
      }
      if (stats.skipped > 0) {
        Log(LogLevel::kWarning, "skipped malformed device export lines",
            {{"file", file},
             {"skipped", absl::StrCat(stats.skipped)},
             {"loaded", absl::StrCat(stats.loaded)},
             {"first", stats.first_errors.front()}});
      }
    }
  }
  for (const DpsConfig& dps : config.dps) {
    for (const DpsGroupConfig& group : dps.groups) {
      DpsGroupEntry entry;
      entry.name = group.name;
      entry.registration_prefix = group.registration_prefix;
      entry.primary = PrepareOptional(group.keys.primary);
      entry.secondary = PrepareOptional(group.keys.secondary);
      entry.source = config.source;
      if (auto s = table->AddDpsGroup(dps.id_scope, std::move(entry)); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(config.source, ": ", s.message()));
      }
    }
  }
  table->Compact();
  return table;
}

}  // namespace sasmint
