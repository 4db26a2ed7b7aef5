// tls.h: the TLS and mutual TLS credentials of sasmint's listeners.
//
// MakeServerCredentials reads the PEM files that TlsOptions name (certificate chain, private key,
// and the CA that signs client certificates) and checks them at start (each file parses, the
// certificate matches the key), so that a bad file stops the server with its name. With
// reload_interval_seconds > 0 the credentials are gRPC's TLS credentials over a file watcher:
// gRPC reads the same files again at that interval and new handshakes use what it read
// (connections already open keep theirs), so a renewed certificate or CA bundle takes effect
// without a restart. gRPC 1.51 keeps the last good files when one cannot be read, but takes a
// pair whose key does not belong to its certificate and then fails every handshake until the
// files are fixed: CheckTlsMaterial is what the server runs at the same interval to report that
// as not ready. With 0 the files are read once. Private key text is wiped from our buffers once
// checked (gRPC keeps its own copy, which we cannot reach). Thread-safe.
#ifndef SASMINT_SERVICE_RPC_TLS_H_
#define SASMINT_SERVICE_RPC_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/config/server_options.h"

namespace sasmint {

// MakeServerCredentials returns TLS server credentials for enabled options, insecure ones
// otherwise. INVALID_ARGUMENT for inconsistent options (ValidateTlsOptions); NOT_FOUND if a
// file cannot be read; INVALID_ARGUMENT naming the file if it holds no PEM certificate (or
// key), or if the certificate does not match the key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

// CheckTlsMaterial reads and checks the files as MakeServerCredentials does, and that the first
// certificate of the chain has not expired at `now`. OK for options without TLS.
absl::Status CheckTlsMaterial(const TlsOptions& options, absl::Time now);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_TLS_H_
