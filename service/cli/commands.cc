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
#include "service/tls.h"
#include "service/verifier.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint::cli {
namespace {

constexpr char kUsage[] =
    "usage: sasmint <command> [flags]\n"
    "commands:\n"
    "  serve       [--config FILE] [--listen ADDR] [--hub HOST --devices FILE] [--demo]\n"
    "              [--port-file FILE] [--admin-listen ADDR] [--health-listen ADDR]\n"
    "              [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
    "  serve       --check-config FILE\n"
    "  token       --hub HOST (--device ID [--module ID] | --policy NAME [--resource PATH])\n"
    "              --key B64 (--expiry UNIX | --ttl S) [--json]\n"
    "  token       --id-scope SCOPE --registration ID --key B64 (--expiry UNIX | --ttl S)\n"
    "  derive-key  --group-key B64 --registration ID\n"
    "  mint        --server ADDR --hub HOST --device ID [--module ID] [--ttl S]\n"
    "              [--key-slot primary|secondary] [--timeout S] [--json]\n"
    "              [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]\n"
    "  verify      TOKEN (--key B64 [--secondary-key B64] | --server ADDR) [--hub HOST]\n"
    "              [--device ID [--module ID]] [--right R] [--now UNIX] [--max-lifetime S]\n"
    "              [--timeout S] [--json]      (TOKEN '-' reads it from stdin)\n"
    "  verify      --cert FILE --hub HOST --device ID [--module ID] (--server ADDR |\n"
    "              --primary-thumbprint X [--secondary-thumbprint Y]) [--now UNIX] [--json]\n"
    "              exit 0: IoT Hub would accept; 1: it would reject; 2: usage or I/O error\n"
    "              (--server takes mint's --tls-* flags)\n";

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

// kClientTlsFlags are the TLS flags of the gRPC clients (mint, verify --server).
const char* const kClientTlsFlags[] = {"tls-ca", "tls-cert", "tls-key", "tls-server-name"};

absl::flat_hash_set<std::string> WithClientTlsFlags(absl::flat_hash_set<std::string> flags) {
  for (const char* f : kClientTlsFlags) flags.insert(f);
  return flags;
}

// TimeoutFlag returns --timeout in seconds (1 to 3600; default 10).
absl::StatusOr<int64_t> TimeoutFlag(const Flags& flags) {
  const auto t = flags.Get("timeout");
  if (!t) return 10;
  return ParseInt("timeout", *t, 1, 3600);
}

// PrepareCall gives a call `timeout_s` seconds, waiting for the server to be reachable within it.
void PrepareCall(grpc::ClientContext* context, int64_t timeout_s) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  context->set_wait_for_ready(true);
}

// ChannelFromFlags returns the channel to `server`: TLS (mTLS with a certificate) with --tls-ca.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelFromFlags(const Flags& flags,
                                                                const std::string& server) {
  ClientTlsOptions tls;
  tls.ca_file = flags.Get("tls-ca").value_or("");
  tls.cert_file = flags.Get("tls-cert").value_or("");
  tls.key_file = flags.Get("tls-key").value_or("");
  tls.server_name = flags.Get("tls-server-name").value_or("");
  return MakeClientChannel(server, tls);
}

// RpcError formats a failed call; a channel that could not connect gets a hint, since gRPC
// reports a refused TLS handshake only as a deadline or an unavailable server.
std::string RpcError(const grpc::Status& status, grpc::Channel& channel) {
  // gRPC's codes are google.rpc.Code values, the same numbers as absl::StatusCode.
  const std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
  std::string out = absl::StrCat(name.empty() ? "UNKNOWN" : name, ": ", status.error_message());
  if ((status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
       status.error_code() == grpc::StatusCode::UNAVAILABLE) &&
      channel.GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    absl::StrAppend(&out,
                    " (could not connect: the server is unreachable, or the TLS handshake failed; "
                    "check --server, --tls-ca, --tls-cert/--tls-key and --tls-server-name)");
  }
  return out;
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
  auto flags =
      Flags::Parse(args,
                   WithClientTlsFlags({"server", "hub", "device", "module", "policy", "resource",
                                       "id-scope", "registration", "ttl", "key-slot", "timeout"}),
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
  const absl::StatusOr<int64_t> timeout_s = TimeoutFlag(*flags);
  if (!timeout_s.ok()) return FailStatus(kCmd, kExitUsage, timeout_s.status());
  auto channel = ChannelFromFlags(*flags, *server);
  if (!channel.ok()) return FailStatus(kCmd, kExitUsage, channel.status());
  auto stub = v1::TokenService::NewStub(*channel);
  grpc::ClientContext context;
  PrepareCall(&context, *timeout_s);
  v1::MintTokenResponse response;
  const grpc::Status status = stub->MintToken(&context, request, &response);
  if (!status.ok()) return Fail(kCmd, kExitFailure, RpcError(status, **channel));
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

// kExitRejected is `verify`'s exit code for a token or certificate IoT Hub would refuse: a
// verdict, not an error, so scripts can tell it from bad usage (2).
constexpr int kExitRejected = 1;

absl::string_view SlotText(KeySlot slot) {
  return slot == KeySlot::kSecondary ? "secondary" : "primary";
}

void PrintReport(const VerifyReport& report, std::optional<int64_t> now, bool json) {
  if (json) {
    std::string out =
        absl::StrCat("{\"verdict\":\"", VerdictName(report.verdict), "\",\"message\":\"",
                     JsonEscape(report.message), "\",\"findings\":[");
    for (size_t i = 0; i < report.findings.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", "{\"verdict\":\"",
                      VerdictName(report.findings[i].verdict), "\",\"message\":\"",
                      JsonEscape(report.findings[i].message), "\"}");
    }
    out.append("],\"notes\":[");
    for (size_t i = 0; i < report.notes.size(); ++i) {
      absl::StrAppend(&out, i == 0 ? "" : ",", "\"", JsonEscape(report.notes[i]), "\"");
    }
    out.append("]");
    if (report.matched_key) {
      const MatchedKey& m = *report.matched_key;
      absl::StrAppend(&out, ",\"matched_key\":{\"slot\":\"", SlotText(m.slot),
                      "\",\"version\":", m.version, ",\"retired\":", m.retired ? "true" : "false",
                      ",\"retired_at\":", m.retired_at, ",\"owner\":\"", JsonEscape(m.owner),
                      "\"}");
    }
    if (report.expires_at) absl::StrAppend(&out, ",\"expires_at\":", *report.expires_at);
    if (now) absl::StrAppend(&out, ",\"now\":", *now);
    if (report.certificate) {
      const CertificateInfo& c = *report.certificate;
      absl::StrAppend(&out, ",\"certificate\":{\"sha1_thumbprint\":\"", c.sha1_thumbprint,
                      "\",\"sha256_thumbprint\":\"", c.sha256_thumbprint,
                      "\",\"not_before\":", c.not_before, ",\"not_after\":", c.not_after,
                      ",\"subject\":\"", JsonEscape(c.subject), "\"}");
    }
    out.append("}");
    std::cout << out << std::endl;
    return;
  }
  std::cout << "verdict: " << VerdictName(report.verdict) << "\n"
            << "message: " << report.message << "\n";
  if (report.findings.empty()) {
    std::cout << "findings: none\n";
  } else {
    std::cout << "findings:\n";
    for (const Finding& f : report.findings) {
      std::cout << "  " << VerdictName(f.verdict) << ": " << f.message << "\n";
    }
  }
  if (!report.notes.empty()) {
    std::cout << "notes:\n";
    for (const std::string& note : report.notes) std::cout << "  " << note << "\n";
  }
  if (report.certificate) {
    const CertificateInfo& c = *report.certificate;
    const auto time = [](int64_t t) {
      return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(t), absl::UTCTimeZone());
    };
    std::cout << "certificate:\n"
              << "  subject: " << c.subject << "\n"
              << "  SHA-1 thumbprint: " << c.sha1_thumbprint << "\n"
              << "  SHA-256 thumbprint: " << c.sha256_thumbprint << "\n"
              << "  valid from " << time(c.not_before) << " until " << time(c.not_after) << "\n";
  }
  std::cout << std::flush;
}

// ReportFromResponse turns the server's answer back into a report, for printing.
VerifyReport ReportFromResponse(const v1::VerifyTokenResponse& response) {
  VerifyReport report;
  report.verdict = ParseVerdict(response.verdict()).value_or(Verdict::kMalformed);
  report.message = response.message();
  for (const v1::Finding& f : response.findings()) {
    report.findings.push_back(
        Finding{ParseVerdict(f.verdict()).value_or(Verdict::kMalformed), f.message()});
  }
  report.notes.assign(response.notes().begin(), response.notes().end());
  if (response.has_matched_key()) {
    const v1::MatchedKey& m = response.matched_key();
    report.matched_key =
        MatchedKey{m.slot() == v1::KEY_SLOT_SECONDARY ? KeySlot::kSecondary : KeySlot::kPrimary,
                   m.version(), m.retired(), m.retired_at(), m.owner()};
  }
  if (response.expires_at() != 0) report.expires_at = response.expires_at();
  if (response.has_certificate()) {
    const v1::CertificateSummary& c = response.certificate();
    report.certificate = CertificateInfo{c.sha1_thumbprint(), c.sha256_thumbprint(), c.not_before(),
                                         c.not_after(), c.subject()};
  }
  return report;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return text;
}

// TokenFromArgs returns the token: one argument, the two halves of an unquoted token
// ("SharedAccessSignature" "sr=..."), or '-' for a line on stdin (a token on the command line
// is visible to other local users in the process list).
absl::StatusOr<std::string> TokenFromArgs(const std::vector<std::string>& positional) {
  if (positional.size() == 2 && absl::EqualsIgnoreCase(positional[0], "SharedAccessSignature")) {
    return absl::StrCat(positional[0], " ", positional[1]);
  }
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", positional[1], "' (quote the token)"));
  }
  if (positional.empty()) {
    return absl::InvalidArgumentError("missing TOKEN (or --cert FILE); '-' reads it from stdin");
  }
  if (positional[0] != "-") return positional[0];
  std::string line;
  if (!std::getline(std::cin, line)) return absl::InvalidArgumentError("no token on stdin");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int RunVerify(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "verify";
  auto flags =
      Flags::Parse(args,
                   WithClientTlsFlags({"key", "secondary-key", "server", "hub", "device", "module",
                                       "right", "now", "max-lifetime", "cert", "primary-thumbprint",
                                       "secondary-thumbprint", "timeout"}),
                   {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  const auto server = flags->Get("server");
  const auto cert_path = flags->Get("cert");
  const auto hub = flags->Get("hub");
  const auto device = flags->Get("device");
  const auto module = flags->Get("module");
  const bool json = flags->Has("json");
  if (module && !device) return Fail(kCmd, kExitUsage, "--module needs --device");
  if (server && flags->Has("now")) {
    return Fail(kCmd, kExitUsage,
                "--now is for offline checks; the server judges at its own clock");
  }
  const auto conflicts = [&](std::initializer_list<absl::string_view> names,
                             absl::string_view why) -> std::optional<int> {
    for (absl::string_view name : names) {
      if (flags->Has(name)) return Fail(kCmd, kExitUsage, absl::StrCat("--", name, " ", why));
    }
    return std::nullopt;
  };
  VerifyOptions options;
  options.now = absl::ToUnixSeconds(absl::Now());
  if (const auto now = flags->Get("now")) {
    auto v = ParseInt("now", *now, 0, kMaxExpiry);
    if (!v.ok()) return FailStatus(kCmd, kExitUsage, v.status());
    options.now = *v;
  }
  const absl::StatusOr<int64_t> timeout_s = TimeoutFlag(*flags);
  if (!timeout_s.ok()) return FailStatus(kCmd, kExitUsage, timeout_s.status());
  v1::VerifyTokenRequest request;
  std::optional<VerifyReport> local;
  OfflineKeys offline;

  if (cert_path) {
    if (!flags->positional().empty()) {
      return Fail(kCmd, kExitUsage, "give a TOKEN or --cert FILE, not both");
    }
    if (auto bad = conflicts({"key", "secondary-key", "right", "max-lifetime"},
                             "goes with a token, not --cert")) {
      return *bad;
    }
    if (!hub || !device) {
      return Fail(kCmd, kExitUsage, "--cert needs --hub HOST and --device ID (the identity)");
    }
    const TokenScope scope =
        module ? TokenScope::Module(*hub, *device, *module) : TokenScope::Device(*hub, *device);
    if (absl::Status s = ValidateScope(scope); !s.ok()) return FailStatus(kCmd, kExitUsage, s);
    auto pem = ReadWholeFile(*cert_path);
    if (!pem.ok()) return FailStatus(kCmd, kExitUsage, pem.status());
    if (server) {
      if (auto bad = conflicts({"primary-thumbprint", "secondary-thumbprint"},
                               "is for offline checks; with --server the registered thumbprints "
                               "come from the server")) {
        return *bad;
      }
      request.set_certificate_pem(*pem);
      request.mutable_identity()->set_hub(*hub);
      request.mutable_identity()->set_device_id(*device);
      request.mutable_identity()->set_module_id(module.value_or(""));
    } else {
      const auto primary = flags->Get("primary-thumbprint");
      if (!primary) {
        return Fail(kCmd, kExitUsage,
                    "--cert needs --server ADDR or --primary-thumbprint X (the registered one)");
      }
      offline.primary_thumbprint = *primary;
      offline.secondary_thumbprint = flags->Get("secondary-thumbprint").value_or("");
      auto info = InspectCertificatePem(*pem);
      if (!info.ok()) {
        return Fail(kCmd, kExitUsage, absl::StrCat(*cert_path, ": ", info.status().message()));
      }
      local = VerifyCertificate(*info, scope, options, VerifyKeys::Offline(offline));
    }
  } else {
    auto token = TokenFromArgs(flags->positional());
    if (!token.ok()) return FailStatus(kCmd, kExitUsage, token.status());
    if (auto bad = conflicts({"primary-thumbprint", "secondary-thumbprint"}, "goes with --cert")) {
      return *bad;
    }
    if (const auto right = flags->Get("right")) {
      auto parsed = ParseRight(*right);
      if (!parsed.ok()) {
        return Fail(kCmd, kExitUsage,
                    "--right must be DeviceConnect, ServiceConnect, RegistryRead or RegistryWrite");
      }
      options.right = *parsed;
    }
    if (const auto max = flags->Get("max-lifetime")) {
      auto v = ParseInt("max-lifetime", *max, 1, kMaxExpiry);
      if (!v.ok()) return FailStatus(kCmd, kExitUsage, v.status());
      options.max_lifetime_seconds = *v;
    }
    const auto key_text = flags->Get("key");
    if (server && key_text) {
      return Fail(kCmd, kExitUsage, "give --key B64 (offline) or --server ADDR, not both");
    }
    if (!server && !key_text) {
      return Fail(kCmd, kExitUsage,
                  "give --key B64 (offline) or --server ADDR (the server's keys)");
    }
    if (server) {
      if (auto bad = conflicts({"secondary-key", "hub", "device", "module"},
                               "is for offline checks; the server takes the audience and keys "
                               "from its key store")) {
        return *bad;
      }
      request.set_token(*token);
      request.set_max_lifetime_seconds(options.max_lifetime_seconds);
      switch (options.right) {
        case kDeviceConnect:
          request.set_right(v1::RIGHT_DEVICE_CONNECT);
          break;
        case kServiceConnect:
          request.set_right(v1::RIGHT_SERVICE_CONNECT);
          break;
        case kRegistryRead:
          request.set_right(v1::RIGHT_REGISTRY_READ);
          break;
        case kRegistryWrite:
          request.set_right(v1::RIGHT_REGISTRY_WRITE);
          break;
        default:
          break;
      }
    } else {
      for (const auto& [flag, slot] :
           {std::pair<absl::string_view, std::optional<HmacKey>*>{"key", &offline.primary},
            {"secondary-key", &offline.secondary}}) {
        const auto text = flags->Get(flag);
        if (!text) continue;
        const std::string what = absl::StrCat("--", flag);
        auto key = DecodeBase64Key(*text, what);
        if (!key.ok()) return FailStatus(kCmd, kExitUsage, key.status());
        if (absl::Status s = ValidateKeyLength(*key, what); !s.ok()) {
          return FailStatus(kCmd, kExitUsage, s);
        }
        *slot = HmacKey::FromSecret(*key);
      }
      if (hub) {
        if (absl::Status s = ValidateHubHost(*hub); !s.ok()) return FailStatus(kCmd, kExitUsage, s);
        offline.hub = *hub;
      }
      offline.device_id = device.value_or("");
      offline.module_id = module.value_or("");
      local = Verify(*token, options, VerifyKeys::Offline(offline));
    }
  }

  if (local) {
    if (auto bad =
            conflicts({"tls-ca", "tls-cert", "tls-key", "tls-server-name"}, "goes with --server")) {
      return *bad;
    }
    PrintReport(*local, options.now, json);
    return local->valid() ? kExitOk : kExitRejected;
  }
  auto channel = ChannelFromFlags(*flags, *server);
  if (!channel.ok()) return FailStatus(kCmd, kExitUsage, channel.status());
  auto stub = v1::TokenService::NewStub(*channel);
  grpc::ClientContext context;
  PrepareCall(&context, *timeout_s);
  v1::VerifyTokenResponse response;
  const grpc::Status status = stub->VerifyToken(&context, request, &response);
  // No verdict came back: an error, not a rejection.
  if (!status.ok()) return Fail(kCmd, kExitUsage, RpcError(status, **channel));
  const VerifyReport report = ReportFromResponse(response);
  PrintReport(report, response.server_time(), json);
  return report.valid() ? kExitOk : kExitRejected;
}

namespace {

// ApplyListenerFlags applies the flags that override the configuration's listeners: addresses
// and TLS files.
void ApplyListenerFlags(const Flags& flags, ServerOptions* server) {
  if (const auto listen = flags.Get("listen")) server->listen_address = *listen;
  if (const auto admin = flags.Get("admin-listen")) server->admin_listen_address = *admin;
  if (const auto health = flags.Get("health-listen")) server->health_listen_address = *health;
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

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "serve";
  const sigset_t signals = BlockShutdownSignals();
  auto flags =
      Flags::Parse(args,
                   {"listen", "hub", "devices", "config", "check-config", "port-file",
                    "admin-listen", "health-listen", "tls-cert", "tls-key", "tls-client-ca"},
                   {"demo"});
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
    ApplyListenerFlags(*flags, &config.server);
    if (absl::Status s = ValidateServerOptions(config.server); !s.ok()) {
      return FailStatus(kCmd, kExitUsage, s);
    }
    // The demo's keys are throwaway but real: never expose them beyond this machine.
    if (!IsLoopbackAddress(config.server.listen_address) ||
        (!config.server.admin_listen_address.empty() &&
         !IsLoopbackAddress(config.server.admin_listen_address))) {
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
  // KeyAdmin publishes every table: the files' and the KeyAdmin API's changes over them.
  KeyAdmin admin(&store, &Clock::Real(), config.admin);
  auto server = Server::Start(config.server, &store, &Clock::Real(), &admin);
  if (!server.ok()) {
    return FailStatus(kCmd, absl::IsInvalidArgument(server.status()) ? kExitUsage : kExitFailure,
                      server.status());
  }
  LogSecurityWarnings(config.server);
  const std::string summary = TableSummary(*table);
  if (absl::Status s = admin.Start(std::move(table)); !s.ok()) {
    return FailStatus(kCmd, kExitFailure, s);
  }
  admin.StartPruning(absl::Minutes(1));
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
       {"admin", (*server)->admin_port() == 0
                     ? std::string("on the main listener")
                     : absl::StrCat(config.server.admin_listen_address, " (port ",
                                    (*server)->admin_port(), ")")},
       {"tls", !config.server.tls.enabled()               ? "off"
               : config.server.tls.client_ca_file.empty() ? "server certificate only"
               : config.server.tls.requires_client_cert() ? "mutual (client certificate required)"
                                                          : "mutual (client certificate optional)"},
       {"health", (*server)->health_port() == 0
                      ? std::string("on the main listener")
                      : absl::StrCat(config.server.health_listen_address, " (port ",
                                     (*server)->health_port(), ", plaintext)")},
       {"callers", config.server.authorizer == nullptr
                       ? std::string("any (authorization off)")
                       : absl::StrCat(config.server.authorizer->rules().size(), " rules")},
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
        [reload_flags]() -> absl::StatusOr<std::shared_ptr<IdentityTable>> {
          auto next = ServeConfigFromFlags(reload_flags);
          if (!next.ok()) return next.status();
          return BuildIdentityTable(*next);
        },
        &admin);
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
  if (command == "verify") return RunVerify(args);
  if (command == "serve") return RunServe(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "sasmint: unknown command '" << command
            << "' (commands: serve, token, derive-key, "
               "mint, verify; 'sasmint help' for flags)\n";
  return kExitUsage;
}

}  // namespace sasmint::cli
