// tls.h: TLS and mutual TLS for sasmint's listeners and its command-line clients.
//
// Server side: TlsOptions name PEM files (certificate chain, private key, and the CA that signs
// client certificates); MakeServerCredentials reads and checks them at start (the certificate
// matches the key, each file parses) and returns gRPC SSL credentials. Client side:
// MakeClientChannel builds a channel that verifies the server against a CA file and, given a
// certificate and key, presents them (mTLS). Private key text is wiped from our buffers once
// gRPC has its copy (gRPC keeps its own, which we cannot reach). The files are read once: a
// renewed certificate takes effect at the next start. Functions are thread-safe.
#ifndef SASMINT_SERVICE_TLS_H_
#define SASMINT_SERVICE_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sasmint {

struct TlsOptions {
  std::string cert_file;       // PEM certificate chain; TLS is on when set
  std::string key_file;        // PEM private key of that certificate
  std::string client_ca_file;  // PEM CA certificates that sign client certificates
  // Whether a client certificate is required; unset means "when client_ca_file is set". When not
  // required, a client may connect without one and is then "anonymous".
  std::optional<bool> require_client_cert;

  bool enabled() const { return !cert_file.empty(); }
  bool requires_client_cert() const {
    return require_client_cert.value_or(!client_ca_file.empty());
  }
};

// ValidateTlsOptions returns INVALID_ARGUMENT for a certificate without key (or the reverse), a
// client CA without server certificate, or require_client_cert without client CA.
absl::Status ValidateTlsOptions(const TlsOptions& options);

// MakeServerCredentials returns SSL server credentials for enabled options, insecure ones
// otherwise. NOT_FOUND if a file cannot be read; INVALID_ARGUMENT naming the file if it holds no
// PEM certificate (or key), or if the certificate does not match the key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

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

#endif  // SASMINT_SERVICE_TLS_H_
