// channel.h: gRPC channels to a sasmint server, plaintext or TLS (mutual TLS with a client
// certificate), for the command-line clients, the load client and gateways.
//
// MakeClientChannel verifies the server against a CA file and, given a certificate and key,
// presents them. The files are read and checked (certificate matches key) before the channel is
// made, and the private key text is wiped from our buffers once gRPC has its copy. Thread-safe.
#ifndef SASMINT_CLIENT_CHANNEL_H_
#define SASMINT_CLIENT_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint {

// kGatewayServiceConfig is the gRPC service config for clients of several sasmint replicas
// (k8s/README.md gives it for other languages): round_robin over every address the target
// resolves to (dns:/// of the headless Service, or "ipv4:a:p,b:p"); client-side health checking
// against readiness, so that a replica that turns NOT_SERVING (draining on SIGTERM, keys not yet
// loaded, TLS files broken) stops getting calls as soon as it says so; and retries of the unary
// methods on UNAVAILABLE (minting again is harmless), for the calls that a replica refused while
// draining or lost when it went away. Retries are throttled: when every replica is down they
// stop instead of multiplying the load.
inline constexpr absl::string_view kGatewayServiceConfig = R"json({
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": "sasmint.v1.TokenService"},
  "methodConfig": [{
    "name": [{"service": "sasmint.v1.TokenService", "method": "MintToken"},
             {"service": "sasmint.v1.TokenService", "method": "MintTokens"},
             {"service": "sasmint.v1.TokenService", "method": "VerifyToken"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.02s", "maxBackoff": "0.5s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
  }],
  "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1}
})json";

// GatewayChannelArguments returns `args` with kGatewayServiceConfig as the service config (used
// unless the resolver supplies one) and a reconnect backoff of 100 ms growing to 1 s instead of
// gRPC's 1 s to 120 s, so that a restarted replica gets calls again within a second.
grpc::ChannelArguments GatewayChannelArguments(grpc::ChannelArguments args = {});

struct ClientTlsOptions {
  std::string ca_file;    // PEM CA that signs the server's certificate; TLS is on when set
  std::string cert_file;  // client certificate chain (mTLS), with key_file
  std::string key_file;
  std::string server_name;  // expected name in the server's certificate, if not the target host

  bool enabled() const { return !ca_file.empty(); }
};

// MakeClientChannel returns a channel to `target`: TLS with `tls` if enabled, else plaintext.
// INVALID_ARGUMENT for cert without key (or the reverse), or cert/key/server_name without a CA;
// NOT_FOUND if a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(
    const std::string& target, const ClientTlsOptions& tls,
    grpc::ChannelArguments args = grpc::ChannelArguments());

}  // namespace sasmint

#endif  // SASMINT_CLIENT_CHANNEL_H_
