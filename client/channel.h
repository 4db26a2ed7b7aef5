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

namespace sasmint {

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
