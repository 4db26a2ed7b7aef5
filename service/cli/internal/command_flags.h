// command_flags.h: what the subcommands share (internal): error exits, number, scope and expiry
// flags, and the gRPC client flags of `mint` and `verify --server`.
#ifndef SASMINT_SERVICE_CLI_INTERNAL_COMMAND_FLAGS_H_
#define SASMINT_SERVICE_CLI_INTERNAL_COMMAND_FLAGS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/flags.h"
#include "signer/sas_token.h"

namespace sasmint::cli::internal {

// Fail writes "sasmint <command>: <message>" to stderr and returns `code`.
int Fail(absl::string_view command, int code, absl::string_view message);
int FailStatus(absl::string_view command, int code, const absl::Status& status);

// NoPositional returns INVALID_ARGUMENT naming the first argument that is not a flag, if any.
absl::Status NoPositional(const Flags& flags);
// Conflicts returns INVALID_ARGUMENT "--<name> <why>" for the first of `names` given.
absl::Status Conflicts(const Flags& flags, absl::Span<const absl::string_view> names,
                       absl::string_view why);

// ParseInt returns `text` as an integer in [min, max]; INVALID_ARGUMENT naming --flag otherwise.
absl::StatusOr<int64_t> ParseInt(absl::string_view flag, absl::string_view text, int64_t min,
                                 int64_t max);
// ExpiryFromFlags reads --expiry or --ttl (exactly one) as Unix seconds.
absl::StatusOr<int64_t> ExpiryFromFlags(const Flags& flags);
// ScopeFromFlags reads the scope flags of `token` and `mint` (--hub, --device, --module,
// --policy, --resource, or --id-scope and --registration) and validates the scope.
absl::StatusOr<TokenScope> ScopeFromFlags(const Flags& flags);

// IsLoopbackAddress returns whether a listen address is on loopback (127.*, localhost, ::1).
bool IsLoopbackAddress(absl::string_view address);

// WithClientTlsFlags adds the TLS flags of the gRPC clients to `flags`.
absl::flat_hash_set<std::string> WithClientTlsFlags(absl::flat_hash_set<std::string> flags);
// kClientTlsFlagNames lists them, for conflict checks.
inline constexpr absl::string_view kClientTlsFlagNames[] = {"tls-ca", "tls-cert", "tls-key",
                                                            "tls-server-name"};
// TimeoutFlag returns --timeout in seconds (1 to 3600; default 10).
absl::StatusOr<int64_t> TimeoutFlag(const Flags& flags);
// PrepareCall gives a call `timeout_s` seconds, waiting for the server to be reachable within it.
void PrepareCall(grpc::ClientContext* context, int64_t timeout_s);
// ChannelFromFlags returns the channel to `server`: TLS (mTLS with a certificate) with --tls-ca.
absl::StatusOr<std::shared_ptr<grpc::Channel>> ChannelFromFlags(const Flags& flags,
                                                                const std::string& server);
// RpcError formats a failed call; a channel that could not connect gets a hint, since gRPC
// reports a refused TLS handshake only as a deadline or an unavailable server.
std::string RpcError(const grpc::Status& status, grpc::Channel& channel);

}  // namespace sasmint::cli::internal

#endif  // SASMINT_SERVICE_CLI_INTERNAL_COMMAND_FLAGS_H_
