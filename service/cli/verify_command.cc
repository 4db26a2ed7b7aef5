// sasmint verify: why IoT Hub would accept or reject a token or a device certificate, checked
// here against keys or thumbprints given on the command line, or by a server (VerifyToken).
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"
#include "service/keystore/rights.h"
#include "service/rpc/conversions.h"
#include "service/verify/certificate.h"
#include "service/verify/verifier.h"
#include "signer/encoding.h"

namespace sasmint::cli {
namespace {

using internal::Conflicts;
using internal::Fail;
using internal::FailStatus;

constexpr absl::string_view kCmd = "verify";
// kExitRejected is `verify`'s exit code for a token or certificate IoT Hub would refuse: a
// verdict, not an error, so scripts can tell it from bad usage (2).
constexpr int kExitRejected = 1;

std::string ReportJson(const VerifyReport& report, std::optional<int64_t> now) {
  std::string out = absl::StrCat("{\"verdict\":\"", VerdictName(report.verdict),
                                 "\",\"message\":", JsonString(report.message), ",\"findings\":[");
  for (size_t i = 0; i < report.findings.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"verdict\":\"",
                    VerdictName(report.findings[i].verdict),
                    "\",\"message\":", JsonString(report.findings[i].message), "}");
  }
  out.append("],\"notes\":[");
  for (size_t i = 0; i < report.notes.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonString(report.notes[i]));
  }
  out.append("]");
  if (report.matched_key) {
    const MatchedKey& m = *report.matched_key;
    absl::StrAppend(&out, ",\"matched_key\":{\"slot\":\"", KeySlotName(m.slot),
                    "\",\"version\":", m.version, ",\"retired\":", m.retired ? "true" : "false",
                    ",\"retired_at\":", m.retired_at, ",\"owner\":", JsonString(m.owner), "}");
  }
  if (report.expires_at) absl::StrAppend(&out, ",\"expires_at\":", *report.expires_at);
  if (now) absl::StrAppend(&out, ",\"now\":", *now);
  if (report.certificate) {
    const CertificateInfo& c = *report.certificate;
    absl::StrAppend(&out, ",\"certificate\":{\"sha1_thumbprint\":\"", c.sha1_thumbprint,
                    "\",\"sha256_thumbprint\":\"", c.sha256_thumbprint,
                    "\",\"not_before\":", c.not_before, ",\"not_after\":", c.not_after,
                    ",\"subject\":", JsonString(c.subject), "}");
  }
  out.append("}");
  return out;
}

void PrintReport(const VerifyReport& report, std::optional<int64_t> now, bool json) {
  if (json) {
    std::cout << ReportJson(report, now) << std::endl;
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

// VerifyPlan is what the flags ask for: a report made here (offline), or a request for the
// server (--server). Every error building it is bad usage or input (exit 2).
struct VerifyPlan {
  std::optional<VerifyReport> local;
  v1::VerifyTokenRequest request;
};

// PlanCertificate plans `verify --cert FILE`.
absl::StatusOr<VerifyPlan> PlanCertificate(const Flags& flags, const std::string& cert_path,
                                           const VerifyOptions& options) {
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError("give a TOKEN or --cert FILE, not both");
  }
  RETURN_IF_ERROR(Conflicts(flags, {"key", "secondary-key", "right", "max-lifetime"},
                            "goes with a token, not --cert"));
  const auto hub = flags.Get("hub");
  const auto device = flags.Get("device");
  const auto module = flags.Get("module");
  if (!hub || !device) {
    return absl::InvalidArgumentError("--cert needs --hub HOST and --device ID (the identity)");
  }
  const TokenScope scope =
      module ? TokenScope::Module(*hub, *device, *module) : TokenScope::Device(*hub, *device);
  RETURN_IF_ERROR(ValidateScope(scope));
  ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(cert_path));
  VerifyPlan plan;
  if (flags.Has("server")) {
    RETURN_IF_ERROR(Conflicts(flags, {"primary-thumbprint", "secondary-thumbprint"},
                              "is for offline checks; with --server the registered thumbprints "
                              "come from the server"));
    plan.request.set_certificate_pem(pem);
    plan.request.mutable_identity()->set_hub(*hub);
    plan.request.mutable_identity()->set_device_id(*device);
    plan.request.mutable_identity()->set_module_id(module.value_or(""));
    return plan;
  }
  const auto primary = flags.Get("primary-thumbprint");
  if (!primary) {
    return absl::InvalidArgumentError(
        "--cert needs --server ADDR or --primary-thumbprint X (the registered one)");
  }
  OfflineRegistration offline;
  offline.primary_thumbprint = *primary;
  offline.secondary_thumbprint = flags.Get("secondary-thumbprint").value_or("");
  absl::StatusOr<CertificateInfo> info = ParseCertificatePem(pem);
  if (!info.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_path, ": ", info.status().message()));
  }
  plan.local = VerifyCertificate(*info, scope, options, KeySource::Offline(offline));
  return plan;
}

// OfflineKeysFromFlags reads --key and --secondary-key, and the expected hub and identity.
absl::StatusOr<OfflineRegistration> OfflineKeysFromFlags(const Flags& flags) {
  OfflineRegistration offline;
  for (const auto& [flag, slot] :
       {std::pair<absl::string_view, std::optional<HmacKey>*>{"key", &offline.primary},
        {"secondary-key", &offline.secondary}}) {
    const auto text = flags.Get(flag);
    if (!text) continue;
    const std::string what = absl::StrCat("--", flag);
    ASSIGN_OR_RETURN(SecretBytes key, DecodeBase64Key(*text, what));
    RETURN_IF_ERROR(ValidateKeyLength(key, what));
    *slot = HmacKey::FromSecret(key);
  }
  if (const auto hub = flags.Get("hub")) {
    RETURN_IF_ERROR(ValidateHubHost(*hub));
    offline.hub = *hub;
  }
  offline.device_id = flags.Get("device").value_or("");
  offline.module_id = flags.Get("module").value_or("");
  return offline;
}

// PlanToken plans `verify TOKEN`; it sets the right and lifetime cap in `options`.
absl::StatusOr<VerifyPlan> PlanToken(const Flags& flags, VerifyOptions* options) {
  ASSIGN_OR_RETURN(const std::string token, TokenFromArgs(flags.positional()));
  RETURN_IF_ERROR(
      Conflicts(flags, {"primary-thumbprint", "secondary-thumbprint"}, "goes with --cert"));
  if (const auto right = flags.Get("right")) {
    absl::StatusOr<uint32_t> parsed = ParseRight(*right);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          "--right must be DeviceConnect, ServiceConnect, RegistryRead or RegistryWrite");
    }
    options->right = *parsed;
  }
  if (const auto max = flags.Get("max-lifetime")) {
    ASSIGN_OR_RETURN(options->max_lifetime_seconds,
                     internal::ParseInt("max-lifetime", *max, 1, kMaxExpiry));
  }
  const bool server = flags.Has("server");
  if (server && flags.Has("key")) {
    return absl::InvalidArgumentError("give --key B64 (offline) or --server ADDR, not both");
  }
  if (!server && !flags.Has("key")) {
    return absl::InvalidArgumentError(
        "give --key B64 (offline) or --server ADDR (the server's keys)");
  }
  VerifyPlan plan;
  if (server) {
    RETURN_IF_ERROR(Conflicts(flags, {"secondary-key", "hub", "device", "module"},
                              "is for offline checks; the server takes the audience and keys "
                              "from its key store"));
    plan.request.set_token(token);
    plan.request.set_max_lifetime_seconds(options->max_lifetime_seconds);
    plan.request.set_right(ToProtoRight(options->right));
    return plan;
  }
  ASSIGN_OR_RETURN(const OfflineRegistration offline, OfflineKeysFromFlags(flags));
  plan.local = Verify(token, *options, KeySource::Offline(offline));
  return plan;
}

// AskServer sends the planned request to --server and prints its verdict.
int AskServer(const Flags& flags, const v1::VerifyTokenRequest& request, int64_t timeout_s,
              bool json) {
  auto channel = internal::ChannelFromFlags(flags, *flags.Get("server"));
  if (!channel.ok()) return FailStatus(kCmd, kExitUsage, channel.status());
  auto stub = v1::TokenService::NewStub(*channel);
  grpc::ClientContext context;
  internal::PrepareCall(&context, timeout_s);
  v1::VerifyTokenResponse response;
  const grpc::Status status = stub->VerifyToken(&context, request, &response);
  // No verdict came back: an error, not a rejection.
  if (!status.ok()) return Fail(kCmd, kExitUsage, internal::RpcError(status, **channel));
  const VerifyReport report = ReportFromResponse(response);
  PrintReport(report, response.server_time(), json);
  return report.valid() ? kExitOk : kExitRejected;
}

}  // namespace

int RunVerify(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(
      args,
      internal::WithClientTlsFlags({"key", "secondary-key", "server", "hub", "device", "module",
                                    "right", "now", "max-lifetime", "cert", "primary-thumbprint",
                                    "secondary-thumbprint", "timeout"}),
      {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  const bool json = flags->Has("json");
  if (flags->Has("module") && !flags->Has("device")) {
    return Fail(kCmd, kExitUsage, "--module needs --device");
  }
  if (flags->Has("server") && flags->Has("now")) {
    return Fail(kCmd, kExitUsage,
                "--now is for offline checks; the server judges at its own clock");
  }
  VerifyOptions options;
  options.now = absl::ToUnixSeconds(absl::Now());
  if (const auto now = flags->Get("now")) {
    auto v = internal::ParseInt("now", *now, 0, kMaxExpiry);
    if (!v.ok()) return FailStatus(kCmd, kExitUsage, v.status());
    options.now = *v;
  }
  const absl::StatusOr<int64_t> timeout_s = internal::TimeoutFlag(*flags);
  if (!timeout_s.ok()) return FailStatus(kCmd, kExitUsage, timeout_s.status());
  const auto cert_path = flags->Get("cert");
  absl::StatusOr<VerifyPlan> plan =
      cert_path ? PlanCertificate(*flags, *cert_path, options) : PlanToken(*flags, &options);
  if (!plan.ok()) return FailStatus(kCmd, kExitUsage, plan.status());
  if (!plan->local) return AskServer(*flags, plan->request, *timeout_s, json);
  if (absl::Status s = Conflicts(*flags, internal::kClientTlsFlagNames, "goes with --server");
      !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  PrintReport(*plan->local, options.now, json);
  return plan->local->valid() ? kExitOk : kExitRejected;
}

}  // namespace sasmint::cli
