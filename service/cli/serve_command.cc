// sasmint serve: the token service, with its keys from a configuration file, an export file
// (--hub/--devices) or the embedded demo hub, hot-reloaded, until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/log.h"
#include "service/admin/key_admin.h"
#include "service/admin/reloader.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"
#include "service/cli/internal/serve_observability.h"
#include "service/config/config.h"
#include "service/config/demo.h"
#include "service/keystore/key_memory.h"
#include "service/keystore/key_store.h"
#include "service/keystore/secure_memory.h"
#include "service/metrics/metrics_server.h"
#include "service/rpc/server.h"

namespace sasmint::cli {
namespace {

using internal::Fail;
using internal::FailStatus;
using internal::IsLoopbackAddress;

constexpr absl::string_view kCmd = "serve";

// BlockShutdownSignals blocks SIGINT and SIGTERM in this thread and every thread it starts
// later, so that they are delivered only to sigwait in RunServe.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// ApplyListenerFlags applies the flags that override the configuration's listeners: addresses
// and TLS files.
void ApplyListenerFlags(const Flags& flags, ServerOptions* server) {
  if (const auto listen = flags.Get("listen")) server->listen_address = *listen;
  // --admin-listen turns KeyAdmin on there, even where the file says "enabled": false.
  if (const auto admin = flags.Get("admin-listen")) {
    server->admin_listen_address = *admin;
    server->key_admin_enabled = true;
  }
  if (const auto health = flags.Get("health-listen")) server->health_listen_address = *health;
  if (const auto metrics = flags.Get("metrics-listen")) server->metrics_listen_address = *metrics;
  if (const auto audit = flags.Get("audit")) {
    if (!server->audit.has_value()) server->audit = AuditOptions();
    server->audit->path = *audit;
  }
  if (const auto cert = flags.Get("tls-cert")) server->tls.cert_file = *cert;
  if (const auto key = flags.Get("tls-key")) server->tls.key_file = *key;
  if (const auto ca = flags.Get("tls-client-ca")) server->tls.client_ca_file = *ca;
}

// LogSecurityWarnings says, once at start, what a configuration leaves open.
void LogSecurityWarnings(const ServerOptions& server) {
  const bool authorization = server.authorizer != nullptr && server.authorizer->enabled();
  if (!authorization) {
    Log(LogLevel::kWarning,
        "authorization is off (no callers configured): every caller may mint for every identity");
  }
  if (!server.tls.enabled() && !IsLoopbackAddress(server.listen_address)) {
    Log(LogLevel::kWarning,
        "TLS is off on a non-loopback listen address: callers are not authenticated and tokens "
        "cross the network in plaintext",
        {{"listen", server.listen_address}});
  }
  if (authorization && server.tls.client_ca_file.empty()) {
    Log(LogLevel::kWarning,
        "callers are configured but no client CA is: every caller is anonymous and only "
        "anonymous rules can match");
  }
}

// ServeConfigFromFlags builds the configuration: the --config file if given, then the flags
// that override it (--listen; --hub/--devices add a hub or replace its device files).
absl::StatusOr<ServiceConfig> ServeConfigFromFlags(const Flags& flags) {
  ServiceConfig config;
  if (const auto path = flags.Get("config")) {
    auto loaded = LoadConfigFile(*path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  ApplyListenerFlags(flags, &config.server);
  const auto hub = flags.Get("hub");
  const auto devices = flags.Get("devices");
  if (hub.has_value() != devices.has_value()) {
    return absl::InvalidArgumentError("--hub and --devices go together");
  }
  if (hub) {
    if (absl::Status s = ValidateHubHost(*hub); !s.ok()) return s;
    HubConfig* target = nullptr;
    for (HubConfig& h : config.hubs) {
      if (h.host == *hub) target = &h;
    }
    if (target == nullptr) {
      config.hubs.emplace_back();
      target = &config.hubs.back();
      target->host = *hub;
    }
    target->device_files = {*devices};
    config.watched_files.push_back(*devices);
  }
  if (config.hubs.empty() && config.dps.empty()) {
    return absl::InvalidArgumentError(
        "nothing to serve: give --config FILE, --hub HOST --devices EXPORT_FILE, or --demo");
  }
  if (absl::Status s = ValidateServerOptions(config.server); !s.ok()) return s;
  return config;
}

std::string TableSummary(const IdentityTable& table) {
  return absl::StrCat(table.size(), " identities, ", table.policy_count(), " policies, ",
                      table.dps_group_count(), " DPS enrollment groups");
}

// RunCheckConfig loads everything serving would load (device files and key files included), so
// a configuration that passes here starts.
int RunCheckConfig(const std::string& path) {
  auto config = LoadConfigFile(path);
  if (!config.ok()) return FailStatus(kCmd, kExitUsage, config.status());
  auto table = BuildIdentityTable(*config);
  if (!table.ok()) return FailStatus(kCmd, kExitUsage, table.status());
  std::cout << path << ": OK: " << config->hubs.size() << " hubs, " << TableSummary(**table)
            << ", listen " << config->server.listen_address << std::endl;
  return kExitOk;
}

// ProtectKeyMemory turns off core dumps (and ptrace or /proc/<pid>/mem reads by other users'
// processes) before any key is read, and warns once if key memory cannot be locked.
void ProtectKeyMemory() {
  if (absl::Status s = DisableCoreDumps(); !s.ok()) {
    Log(LogLevel::kWarning, "cannot disable core dumps", {{"error", s.message()}});
  }
  SetKeyMemoryWarningHandler([](absl::string_view message) {
    Log(LogLevel::kWarning, "key memory is not locked in RAM (it may be swapped); continuing",
        {{"reason", message}});
  });
}

// Keys is what serve starts with: the configuration and the first table.
struct Keys {
  bool demo = false;
  ServiceConfig config;
  std::shared_ptr<const IdentityTable> table;
};

// LoadKeys builds the configuration and the first table from the flags, or returns the exit
// code of the failure (already reported).
absl::StatusOr<Keys> LoadKeys(const Flags& flags, int* exit_code) {
  Keys keys;
  keys.demo = flags.Has("demo");
  const auto fail = [&](int code, const absl::Status& status) {
    *exit_code = FailStatus(kCmd, code, status);
    return status;
  };
  if (!keys.demo) {
    absl::StatusOr<ServiceConfig> parsed = ServeConfigFromFlags(flags);
    if (!parsed.ok()) {
      return fail(absl::IsNotFound(parsed.status()) ? kExitFailure : kExitUsage, parsed.status());
    }
    keys.config = *std::move(parsed);
    absl::StatusOr<std::shared_ptr<IdentityTable>> built = BuildIdentityTable(keys.config);
    if (!built.ok()) {
      Log(LogLevel::kError, "loading keys failed", {{"error", built.status().message()}});
      return fail(absl::IsNotFound(built.status()) ? kExitFailure : kExitUsage, built.status());
    }
    keys.table = *std::move(built);
    return keys;
  }
  if (flags.Has("hub") || flags.Has("devices") || flags.Has("config")) {
    return fail(kExitUsage, absl::InvalidArgumentError(
                                "--demo serves its own hub: drop --config, --hub and --devices"));
  }
  ServerOptions& server = keys.config.server;
  ApplyListenerFlags(flags, &server);
  if (absl::Status s = ValidateServerOptions(server); !s.ok()) return fail(kExitUsage, s);
  // The demo's keys are throwaway but real: never expose them beyond this machine.
  if (!IsLoopbackAddress(server.listen_address) ||
      (!server.admin_listen_address.empty() && !IsLoopbackAddress(server.admin_listen_address))) {
    return fail(kExitUsage, absl::InvalidArgumentError(
                                "--demo listens on loopback only (e.g. 127.0.0.1:50051)"));
  }
  absl::StatusOr<std::shared_ptr<const IdentityTable>> demo_table = MakeDemoTable();
  if (!demo_table.ok()) return fail(kExitFailure, demo_table.status());
  keys.table = *std::move(demo_table);
  return keys;
}

// WritePortFile writes the bound port to a temporary name and renames it, so a reader never
// sees a partial file.
void WritePortFile(const std::string& path, const std::string& port) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

void LogServing(const Keys& keys, const Server& server, const std::string& summary,
                const MetricsServer* metrics) {
  const ServerOptions& options = keys.config.server;
  std::vector<std::string> hubs;
  for (const HubConfig& h : keys.config.hubs) hubs.push_back(h.host);
  Log(LogLevel::kInfo, "serving",
      {{"listen", options.listen_address},
       {"port", absl::StrCat(server.port())},
       {"hubs", keys.demo ? std::string(kDemoHub) : absl::StrJoin(hubs, ",")},
       {"keys", summary},
       {"signer", server.signer()},
       {"admin", !options.key_admin_enabled ? std::string("off")
                 : server.admin_port() == 0 ? std::string("on the main listener")
                                            : absl::StrCat(options.admin_listen_address, " (port ",
                                                           server.admin_port(), ")")},
       {"tls", !options.tls.enabled()               ? "off"
               : options.tls.client_ca_file.empty() ? "server certificate only"
               : options.tls.requires_client_cert() ? "mutual (client certificate required)"
                                                    : "mutual (client certificate optional)"},
       {"tls_reload",
        !options.tls.enabled() ? std::string("off")
        : options.tls.reload_interval_seconds == 0
            ? std::string("read once at start")
            : absl::StrCat("files read every ", options.tls.reload_interval_seconds, " s")},
       {"health", server.health_port() == 0 ? std::string("on the main listener")
                                            : absl::StrCat(options.health_listen_address, " (port ",
                                                           server.health_port(), ", plaintext)")},
       {"metrics", metrics == nullptr ? std::string("off")
                                      : absl::StrCat("http://", options.metrics_listen_address,
                                                     "/metrics (port ", metrics->port(), ")")},
       {"audit", !options.audit.has_value()
                     ? std::string("off")
                     : absl::StrCat(options.audit->path == "-" ? "stdout" : options.audit->path,
                                    options.audit->required ? " (required: fail closed)" : "")},
       {"callers", options.authorizer == nullptr
                       ? std::string("any (authorization off)")
                       : absl::StrCat(options.authorizer->rules().size(), " rules")},
       {"mode", keys.demo                    ? "demo"
                : keys.config.source.empty() ? "flags"
                                             : "config"}});
  if (keys.demo) {
    Log(LogLevel::kInfo, "demo identities (random keys, this process only)",
        {{"hub", kDemoHub}, {"identities", absl::StrJoin(DemoIdentities(), ",")}});
  }
}

// StartReloader watches the files the keys came from: a change rebuilds the whole table from
// the same flags and configuration file and publishes it, or keeps the current keys on error.
// Returns null (logged) when the files cannot be watched.
std::unique_ptr<KeyReloader> StartReloader(const Flags& flags, const ServiceConfig& config,
                                           KeyAdmin* admin, ServiceMetrics* metrics,
                                           internal::KeyFileTimes* times) {
  auto started = KeyReloader::Start(
      config.watched_files,
      [flags, metrics, times]() -> absl::StatusOr<std::shared_ptr<IdentityTable>> {
        const absl::Time start = absl::Now();
        absl::StatusOr<std::shared_ptr<IdentityTable>> table;
        int64_t newest = 0;
        if (auto next = ServeConfigFromFlags(flags); !next.ok()) {
          table = next.status();
        } else {
          newest = internal::NewestModificationTime(next->watched_files);
          table = BuildIdentityTable(*next);
        }
        if (metrics != nullptr) metrics->KeyReloaded(table.ok(), absl::Now() - start);
        if (table.ok()) {
          times->loaded_at.store(absl::ToUnixSeconds(absl::Now()));
          times->loaded_source_mtime.store(newest);
        }
        return table;
      },
      admin);
  if (!started.ok()) {
    Log(LogLevel::kWarning, "hot reload is off: cannot watch the key files",
        {{"error", started.status().message()}});
    return nullptr;
  }
  return *std::move(started);
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  const sigset_t signals = BlockShutdownSignals();
  auto flags = Flags::Parse(
      args,
      {"listen", "hub", "devices", "config", "check-config", "port-file", "admin-listen",
       "health-listen", "tls-cert", "tls-key", "tls-client-ca", "metrics-listen", "audit"},
      {"demo"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (absl::Status s = internal::NoPositional(*flags); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  if (const auto check = flags->Get("check-config")) return RunCheckConfig(*check);

  ProtectKeyMemory();
  int exit_code = kExitOk;
  internal::KeyFileTimes times;
  times.loaded_source_mtime.store(0);
  absl::StatusOr<Keys> keys = LoadKeys(*flags, &exit_code);
  if (!keys.ok()) return exit_code;
  times.loaded_at.store(absl::ToUnixSeconds(absl::Now()));
  times.loaded_source_mtime.store(internal::NewestModificationTime(keys->config.watched_files));
  ServerOptions& options = keys->config.server;
  if (options.audit.has_value()) {
    absl::StatusOr<std::unique_ptr<AuditLog>> audit =
        AuditLog::Open(*options.audit, &Clock::Real());
    if (!audit.ok()) return FailStatus(kCmd, kExitUsage, audit.status());
    options.audit_log = *std::move(audit);
    if (!options.audit_log->Accepting()) {
      Log(LogLevel::kError,
          options.audit->required
              ? "audit log cannot be written: every mint fails UNAVAILABLE until it can"
              : "audit log cannot be written: records are dropped (and counted) until it can",
          {{"path", options.audit->path}});
    }
  }

  KeyStore store;
  // KeyAdmin publishes every table: the files' and the KeyAdmin API's changes over them.
  KeyAdmin admin(&store, &Clock::Real(), keys->config.admin);
  absl::StatusOr<BatchSigner> signer = BatchSigner::Best();
  if (!options.metrics_listen_address.empty() && signer.ok()) {
    options.metrics = std::make_shared<ServiceMetrics>(internal::MetricsInfo(signer->Describe()));
  }
  auto server = Server::Start(options, &store, &Clock::Real(), &admin);
  if (!server.ok()) {
    return FailStatus(kCmd, absl::IsInvalidArgument(server.status()) ? kExitUsage : kExitFailure,
                      server.status());
  }
  // Declared after the server: destroyed first, so no scrape reads a server that is gone.
  std::unique_ptr<MetricsServer> metrics_server;
  if (options.metrics != nullptr) {
    internal::AddServeCollectors(
        *options.metrics, &store, server->get(),
        keys->demo ? std::vector<std::string>() : keys->config.watched_files, &times,
        options.audit_log.get(), options.tls.cert_file);
    auto started = MetricsServer::Start(options.metrics_listen_address, options.metrics);
    if (!started.ok()) {
      return FailStatus(kCmd, absl::IsInvalidArgument(started.status()) ? kExitUsage : kExitFailure,
                        started.status());
    }
    metrics_server = *std::move(started);
  }
  LogSecurityWarnings(options);
  const std::string summary = TableSummary(*keys->table);
  if (absl::Status s = admin.Start(std::move(keys->table)); !s.ok()) {
    return FailStatus(kCmd, kExitFailure, s);
  }
  admin.StartPruning(absl::Minutes(1));
  (*server)->SetServing(true);
  if (const auto port_file = flags->Get("port-file")) {
    WritePortFile(*port_file, absl::StrCat((*server)->port()));
  }
  LogServing(*keys, **server, summary, metrics_server.get());
  std::unique_ptr<KeyReloader> reloader =
      keys->demo ? nullptr
                 : StartReloader(*flags, keys->config, &admin, options.metrics.get(), &times);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  Log(LogLevel::kInfo, "shutting down",
      {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
       {"grace_seconds", absl::StrCat(options.shutdown_grace_seconds)}});
  reloader.reset();
  (*server)->Shutdown(absl::Milliseconds(options.shutdown_drain_ms),
                      absl::Seconds(options.shutdown_grace_seconds));
  metrics_server.reset();
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

}  // namespace sasmint::cli
