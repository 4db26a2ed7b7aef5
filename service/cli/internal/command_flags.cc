#include "service/cli/internal/command_flags.h"

#include <chrono>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/channel.h"

namespace sasmint::cli::internal {

int Fail(absl::string_view command, int code, absl::string_view message) {
  std::cerr << "sasmint " << command << ": " << message << std::endl;
  return code;
}

int FailStatus(absl::string_view command, int code, const absl::Status& status) {
  return Fail(command, code, status.message());
}

absl::Status NoPositional(const Flags& flags) {
  if (flags.positional().empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
}

absl::Status Conflicts(const Flags& flags, absl::Span<const absl::string_view> names,
                       absl::string_view why) {
  for (absl::string_view name : names) {
    if (flags.Has(name)) return absl::InvalidArgumentError(absl::StrCat("--", name, " ", why));
  }
  return absl::OkStatus();
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

bool IsLoopbackAddress(absl::string_view address) {
  return absl::StartsWith(address, "127.") || absl::StartsWith(address, "localhost:") ||
         absl::StartsWith(address, "[::1]:") || absl::StartsWith(address, "ipv4:127.") ||
         absl::StartsWith(address, "ipv6:[::1]:");
}

absl::flat_hash_set<std::string> WithClientTlsFlags(absl::flat_hash_set<std::string> flags) {
  for (absl::string_view f : kClientTlsFlagNames) flags.insert(std::string(f));
  return flags;
}

absl::StatusOr<int64_t> TimeoutFlag(const Flags& flags) {
  const auto t = flags.Get("timeout");
  if (!t) return 10;
  return ParseInt("timeout", *t, 1, 3600);
}

void PrepareCall(grpc::ClientContext* context, int64_t timeout_s) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  context->set_wait_for_ready(true);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelFromFlags(const Flags& flags,
                                                                const std::string& server) {
  ClientTlsOptions tls;
  tls.ca_file = flags.Get("tls-ca").value_or("");
  tls.cert_file = flags.Get("tls-cert").value_or("");
  tls.key_file = flags.Get("tls-key").value_or("");
  tls.server_name = flags.Get("tls-server-name").value_or("");
  return MakeClientChannel(server, tls);
}

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

}  // namespace sasmint::cli::internal
