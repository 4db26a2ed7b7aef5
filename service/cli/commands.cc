#include "service/cli/commands.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/cli/flags.h"
#include "service/clock.h"
#include "service/config.h"
#include "service/demo.h"
#include "service/keystore/export_loader.h"
#include "service/keystore/key_memory.h"
#include "service/keystore/key_store.h"
#include "service/keystore/secure_memory.h"
#include "service/log.h"
#include "service/reloader.h"
#include "service/server.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint::cli {
namespace {

constexpr char kUsage[] =
    "usage: sasmint <command> [flags]\n"
    "commands:\n"
    "  serve       [--config FILE] [--listen ADDR] [--hub HOST --devices FILE] [--demo]\n"
    "              [--port-file FILE]\n"
    "  serve       --check-config FILE\n"
    "  token       --hub HOST (--device ID [--module ID] | --policy NAME [--resource PATH])\n"
    "              --key B64 (--expiry UNIX | --ttl S) [--json]\n"
    "  token       --id-scope SCOPE --registration ID --key B64 (--expiry UNIX | --ttl S)\n"
    "  derive-key  --group-key B64 --registration ID\n"
    "  mint        --server ADDR --hub HOST --device ID [--module ID] [--ttl S]\n"
    "              [--key-slot primary|secondary] [--timeout S] [--json]\n";

int Fail(absl::string_view command, int code, absl::string_view message) {
  std::cerr << "sasmint " << command << ": " << message << std::endl;
  return code;
}

int FailStatus(absl::string_view command, int code, const absl::Status& status) {
  return Fail(command, code, status.message());
}

absl::StatusOr<int64_t> ParseInt(absl::string_view flag, absl::string_view text, int64_t min,
                                 int64_t max) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be an integer from ", min, " to ", max));
  }
  return v;
}

// ExpiryFromFlags reads --expiry or --ttl (exactly one).
absl::StatusOr<int64_t> ExpiryFromFlags(const Flags& flags) {
  const auto expiry = flags.Get("expiry");
  const auto ttl = flags.Get("ttl");
  if (expiry && ttl) return absl::InvalidArgumentError("give --expiry or --ttl, not both");
  if (expiry) return ParseInt("expiry", *expiry, 1, kMaxExpiry);
  if (ttl) {
    auto seconds = ParseInt("ttl", *ttl, 1, kMaxExpiry);
    if (!seconds.ok()) return seconds.status();
    return absl::ToUnixSeconds(absl::Now()) + *seconds;
  }
  return absl::InvalidArgumentError("no expiry: give --expiry UNIX_SECONDS or --ttl SECONDS");
}

absl::StatusOr<TokenScope> ScopeFromFlags(const Flags& flags) {
  const auto hub = flags.Get("hub");
  const auto device = flags.Get("device");
  const auto module = flags.Get("module");
  const auto policy = flags.Get("policy");
  const auto resource = flags.Get("resource");
  const auto id_scope = flags.Get("id-scope");
  const auto registration = flags.Get("registration");
  TokenScope scope;
  if (id_scope || registration) {
    if (hub || device || module || policy || resource) {
      return absl::InvalidArgumentError(
          "--id-scope/--registration (DPS) cannot be combined with --hub, --device, --module, "
          "--policy or --resource");
    }
    if (!id_scope || !registration) {
      return absl::InvalidArgumentError("a DPS token needs both --id-scope and --registration");
    }
    scope = TokenScope::Registration(*id_scope, *registration);
  } else {
    if (!hub) return absl::InvalidArgumentError("missing --hub HOST (or --id-scope for DPS)");
    if (device && policy) return absl::InvalidArgumentError("give --device or --policy, not both");
    if (device) {
      if (resource) return absl::InvalidArgumentError("--resource goes with --policy only");
      scope =
          module ? TokenScope::Module(*hub, *device, *module) : TokenScope::Device(*hub, *device);
    } else if (policy) {
      if (module) return absl::InvalidArgumentError("--module needs --device");
      scope = TokenScope::Policy(*hub, *policy, resource.value_or(""));
    } else {
      return absl::InvalidArgumentError("missing --device ID or --policy NAME");
    }
  }
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;
  return scope;
}

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

bool IsLoopbackAddress(absl::string_view address) {
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") || absl::StartsWith(address, "ipv4:127.") ||
         absl::StartsWith(address, "ipv6:[::1]:");
}

}  // namespace

int RunToken(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "token";
  auto flags = Flags::Parse(args,
                            {"hub", "device", "module", "policy", "resource", "id-scope",
                             "registration", "key", "expiry", "ttl"},
                            {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (!flags->positional().empty()) {
    return Fail(kCmd, kExitUsage,
                absl::StrCat("unexpected argument '", flags->positional()[0], "'"));
  }
  auto scope = ScopeFromFlags(*flags);
  if (!scope.ok()) return FailStatus(kCmd, kExitUsage, scope.status());
  const auto key_text = flags->Get("key");
  if (!key_text) return Fail(kCmd, kExitUsage, "missing --key BASE64");
  auto key = DecodeBase64Key(*key_text, "--key");
  if (!key.ok()) return FailStatus(kCmd, kExitUsage, key.status());
  if (absl::Status s = ValidateKeyLength(*key, "--key"); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  auto expiry = ExpiryFromFlags(*flags);
  if (!expiry.ok()) return FailStatus(kCmd, kExitUsage, expiry.status());
  auto token = BuildToken(*scope, HmacKey::FromSecret(*key), *expiry);
  if (!token.ok()) return FailStatus(kCmd, kExitUsage, token.status());
  if (flags->Has("json")) {
    std::cout << "{\"token\":\"" << JsonEscape(*token) << "\",\"expires_at\":" << *expiry
              << ",\"resource\":\"" << JsonEscape(ResourceUri(*scope)) << "\"}" << std::endl;
  } else {
    std::cout << *token << std::endl;
  }
  return kExitOk;
}

int RunDeriveKey(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "derive-key";
  auto flags = Flags::Parse(args, {"group-key", "registration"}, {});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (!flags->positional().empty()) {
    return Fail(kCmd, kExitUsage,
                absl::StrCat("unexpected argument '", flags->positional()[0], "'"));
  }
  const auto group_key = flags->Get("group-key");
  const auto registration = flags->Get("registration");
  if (!group_key) return Fail(kCmd, kExitUsage, "missing --group-key BASE64");
  if (!registration) return Fail(kCmd, kExitUsage, "missing --registration ID");
  if (absl::Status s = ValidateRegistrationId(*registration); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  // Any key length: group keys are normally 64 bytes, but HMAC accepts any (spec TV-8).
  auto key = DecodeBase64Key(*group_key, "--group-key");
  if (!key.ok()) return FailStatus(kCmd, kExitUsage, key.status());
  const SecretBytes derived = DeriveDeviceKey(*key, *registration);
  std::cout << Base64Encode(derived.Reveal(SecretKeyAccess::Get())) << std::endl;
  return kExitOk;
}

int RunMint(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "mint";
  auto flags = Flags::Parse(args,
                            {"server", "hub", "device", "module", "policy", "resource", "id-scope",
                             "registration", "ttl", "key-slot", "timeout"},
                            {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (!flags->positional().empty()) {
    return Fail(kCmd, kExitUsage,
                absl::StrCat("unexpected argument '", flags->positional()[0], "'"));
  }
  const auto server = flags->Get("server");
  if (!server) return Fail(kCmd, kExitUsage, "missing --server ADDR");
  // The scope flags are those of `token`, checked the same way before anything is sent.
  auto scope = ScopeFromFlags(*flags);
  if (!scope.ok()) return FailStatus(kCmd, kExitUsage, scope.status());
  v1::MintTokenRequest request;
  switch (scope->kind) {
    case ScopeKind::kDevice:
    case ScopeKind::kModule:
      request.mutable_identity()->set_hub(scope->hub);
      request.mutable_identity()->set_device_id(scope->device_id);
      request.mutable_identity()->set_module_id(scope->module_id);
      break;
    case ScopeKind::kPolicy:
      request.mutable_policy()->set_hub(scope->hub);
      request.mutable_policy()->set_policy(scope->policy);
      request.mutable_policy()->set_resource(scope->resource);
      break;
    case ScopeKind::kRegistration:
      request.mutable_registration()->set_id_scope(scope->id_scope);
      request.mutable_registration()->set_registration_id(scope->registration_id);
      break;
  }
  if (const auto ttl = flags->Get("ttl")) {
    auto seconds = ParseInt("ttl", *ttl, 1, UINT32_MAX);
    if (!seconds.ok()) return FailStatus(kCmd, kExitUsage, seconds.status());
    request.set_ttl_seconds(static_cast<uint32_t>(*seconds));
  }
  if (const auto slot = flags->Get("key-slot")) {
    if (*slot == "primary") {
      request.set_key_slot(v1::KEY_SLOT_PRIMARY);
    } else if (*slot == "secondary") {
      request.set_key_slot(v1::KEY_SLOT_SECONDARY);
    } else {
      return Fail(kCmd, kExitUsage, "--key-slot must be primary or secondary");
    }
  }
  int64_t timeout_s = 10;
  if (const auto t = flags->Get("timeout")) {
    auto v = ParseInt("timeout", *t, 1, 3600);
    if (!v.ok()) return FailStatus(kCmd, kExitUsage, v.status());
    timeout_s = *v;
  }
  auto channel = grpc::CreateChannel(*server, grpc::InsecureChannelCredentials());
  auto stub = v1::TokenService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  context.set_wait_for_ready(true);
  v1::MintTokenResponse response;
  const grpc::Status status = stub->MintToken(&context, request, &response);
  if (!status.ok()) {
    // gRPC's codes are google.rpc.Code values, the same numbers as absl::StatusCode.
    const std::string name =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
    return Fail(kCmd, kExitFailure,
                absl::StrCat(name.empty() ? "UNKNOWN" : name, ": ", status.error_message()));
  }
  if (flags->Has("json")) {
    std::cout << "{\"token\":\"" << JsonEscape(response.token())
              << "\",\"expires_at\":" << response.expires_at()
              << ",\"renew_after\":" << response.renew_after()
              << ",\"server_time\":" << response.server_time() << ",\"key_slot\":\""
              << (response.key_slot() == v1::KEY_SLOT_SECONDARY ? "secondary" : "primary") << "\"}"
              << std::endl;
  } else {
    std::cout << response.token() << std::endl;
  }
  return kExitOk;
}

namespace {

// ServeConfigFromFlags builds the configuration: the --config file if given, then the flags
// that override it (--listen; --hub/--devices add a hub or replace its device files).
absl::StatusOr<ServiceConfig> ServeConfigFromFlags(const Flags& flags) {
  ServiceConfig config;
  if (const auto path = flags.Get("config")) {
    auto loaded = LoadConfigFile(*path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (const auto listen = flags.Get("listen")) config.server.listen_address = *listen;
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

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "serve";
  const sigset_t signals = BlockShutdownSignals();
  auto flags = Flags::Parse(
      args, {"listen", "hub", "devices", "config", "check-config", "port-file"}, {"demo"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (!flags->positional().empty()) {
    return Fail(kCmd, kExitUsage,
                absl::StrCat("unexpected argument '", flags->positional()[0], "'"));
  }
  if (const auto check = flags->Get("check-config")) {
    // Everything serving would load is loaded (device files and key files included), so a
    // config that passes here starts.
    auto config = LoadConfigFile(*check);
    if (!config.ok()) return FailStatus(kCmd, kExitUsage, config.status());
    auto table = BuildIdentityTable(*config);
    if (!table.ok()) return FailStatus(kCmd, kExitUsage, table.status());
    std::cout << *check << ": OK: " << config->hubs.size() << " hubs, " << TableSummary(**table)
              << ", listen " << config->server.listen_address << std::endl;
    return kExitOk;
  }

  // Secret hygiene before any key is read: no core dumps (nor ptrace or /proc/<pid>/mem reads by
  // other users' processes), and one warning if key memory cannot be locked.
  if (absl::Status s = DisableCoreDumps(); !s.ok()) {
    Log(LogLevel::kWarning, "cannot disable core dumps", {{"error", s.message()}});
  }
  SetKeyMemoryWarningHandler([](absl::string_view message) {
    Log(LogLevel::kWarning, "key memory is not locked in RAM (it may be swapped); continuing",
        {{"reason", message}});
  });

  const bool demo = flags->Has("demo");
  ServiceConfig config;
  std::shared_ptr<const IdentityTable> table;
  if (demo) {
    if (flags->Has("hub") || flags->Has("devices") || flags->Has("config")) {
      return Fail(kCmd, kExitUsage,
                  "--demo serves its own hub: drop --config, --hub and --devices");
    }
    if (const auto listen = flags->Get("listen")) config.server.listen_address = *listen;
    // The demo's keys are throwaway but real: never expose them beyond this machine.
    if (!IsLoopbackAddress(config.server.listen_address)) {
      return Fail(kCmd, kExitUsage, "--demo listens on loopback only (e.g. 127.0.0.1:50051)");
    }
    auto demo_table = MakeDemoTable();
    if (!demo_table.ok()) return FailStatus(kCmd, kExitFailure, demo_table.status());
    table = *std::move(demo_table);
  } else {
    auto parsed = ServeConfigFromFlags(*flags);
    if (!parsed.ok()) {
      return FailStatus(kCmd, absl::IsNotFound(parsed.status()) ? kExitFailure : kExitUsage,
                        parsed.status());
    }
    config = *std::move(parsed);
    auto built = BuildIdentityTable(config);
    if (!built.ok()) {
      Log(LogLevel::kError, "loading keys failed", {{"error", built.status().message()}});
      return FailStatus(kCmd, absl::IsNotFound(built.status()) ? kExitFailure : kExitUsage,
                        built.status());
    }
    table = *std::move(built);
  }

  KeyStore store;
  auto server = Server::Start(config.server, &store, &Clock::Real());
  if (!server.ok()) return FailStatus(kCmd, kExitFailure, server.status());
  const std::string summary = TableSummary(*table);
  store.Publish(std::move(table));
  (*server)->SetServing(true);
  const std::string port = absl::StrCat((*server)->port());
  if (const auto port_file = flags->Get("port-file")) {
    // Written to a temporary name and renamed so a reader never sees a partial file.
    const std::string tmp = *port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file->c_str());
  }
  std::vector<std::string> hubs;
  for (const HubConfig& h : config.hubs) hubs.push_back(h.host);
  Log(LogLevel::kInfo, "serving",
      {{"listen", config.server.listen_address},
       {"port", port},
       {"hubs", demo ? std::string(kDemoHub) : absl::StrJoin(hubs, ",")},
       {"keys", summary},
       {"signer", (*server)->signer()},
       {"mode", demo                    ? "demo"
                : config.source.empty() ? "flags"
                                        : "config"}});
  if (demo) {
    Log(LogLevel::kInfo, "demo identities (random keys, this process only)",
        {{"hub", kDemoHub}, {"identities", absl::StrJoin(DemoIdentities(), ",")}});
  }

  // Hot reload: the files the keys came from are watched; a change rebuilds the whole table from
  // the same flags and configuration file and publishes it, or keeps the current keys on error.
  std::unique_ptr<KeyReloader> reloader;
  if (!demo) {
    const Flags reload_flags = *flags;
    auto started = KeyReloader::Start(
        config.watched_files,
        [reload_flags]() -> absl::StatusOr<std::shared_ptr<const IdentityTable>> {
          auto next = ServeConfigFromFlags(reload_flags);
          if (!next.ok()) return next.status();
          return BuildIdentityTable(*next);
        },
        &store);
    if (!started.ok()) {
      Log(LogLevel::kWarning, "hot reload is off: cannot watch the key files",
          {{"error", started.status().message()}});
    } else {
      reloader = *std::move(started);
    }
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  Log(LogLevel::kInfo, "shutting down",
      {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
       {"grace_seconds", absl::StrCat(config.server.shutdown_grace_seconds)}});
  reloader.reset();
  (*server)->Shutdown(absl::Milliseconds(config.server.shutdown_drain_ms),
                      absl::Seconds(config.server.shutdown_grace_seconds));
  Log(LogLevel::kInfo, "stopped");
  return kExitOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "token") return RunToken(args);
  if (command == "derive-key") return RunDeriveKey(args);
  if (command == "mint") return RunMint(args);
  if (command == "serve") return RunServe(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "sasmint: unknown command '" << command
            << "' (commands: serve, token, derive-key, "
               "mint; 'sasmint help' for flags)\n";
  return kExitUsage;
}

}  // namespace sasmint::cli
