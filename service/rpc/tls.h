// tls.h: the TLS and mutual TLS credentials of sasmint's listeners.
//
// MakeServerCredentials reads the PEM files that TlsOptions name (certificate chain, private key,
// and the CA that signs client certificates), checks them at start (each file parses, the
// certificate matches the key) and returns gRPC SSL credentials. Private key text is wiped from
// our buffers once gRPC has its copy (gRPC keeps its own, which we cannot reach). The files are
// read once: a renewed certificate takes effect at the next start. Thread-safe.
#ifndef SASMINT_SERVICE_RPC_TLS_H_
#define SASMINT_SERVICE_RPC_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "service/config/server_options.h"

namespace sasmint {

// MakeServerCredentials returns SSL server credentials for enabled options, insecure ones
// otherwise. INVALID_ARGUMENT for inconsistent options (ValidateTlsOptions); NOT_FOUND if a
// file cannot be read; INVALID_ARGUMENT naming the file if it holds no PEM certificate (or
// key), or if the certificate does not match the key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_TLS_H_
