#include "service/rpc/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/pem_file.h"
#include "service/verify/certificate.h"

namespace sasmint {
namespace {

grpc_ssl_client_certificate_request_type RequestType(const TlsOptions& options) {
  if (options.client_ca_file.empty()) return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  return options.requires_client_cert() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                        : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
}

// CheckFiles reads and checks every file once, so that a bad one fails the start with its name
// (gRPC's watcher would only log and serve nothing).
absl::Status CheckFiles(const TlsOptions& options, std::string* cert, std::string* key,
                        std::string* ca) {
  if (absl::Status s = ReadCertificateAndKey(options.cert_file, options.key_file, cert, key);
      !s.ok()) {
    return s;
  }
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> bundle = ReadCaFile(options.client_ca_file, "client CA file");
    if (!bundle.ok()) return bundle.status();
    *ca = *std::move(bundle);
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> WatchingCredentials(const TlsOptions& options) {
  const unsigned interval = static_cast<unsigned>(options.reload_interval_seconds);
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      options.key_file, options.cert_file, options.client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!options.client_ca_file.empty()) tls.watch_root_certs();
  tls.set_cert_request_type(RequestType(options));
  return grpc::experimental::TlsServerCredentials(tls);
}

std::shared_ptr<grpc::ServerCredentials> FixedCredentials(const TlsOptions& options,
                                                          std::string cert, std::string& key,
                                                          std::string ca) {
  grpc::SslServerCredentialsOptions ssl(RequestType(options));
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  pair.cert_chain = std::move(cert);
  pair.private_key = key;
  ssl.pem_root_certs = std::move(ca);
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  // gRPC copies the key into its own credentials here; ours are wiped below.
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(ssl);
  for (auto& p : ssl.pem_key_cert_pairs) WipeString(p.private_key);
  return creds;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  if (absl::Status s = ValidateTlsOptions(options); !s.ok()) return s;
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  std::string cert, key, ca;
  const auto wipe = absl::MakeCleanup([&key] { WipeString(key); });
  if (absl::Status s = CheckFiles(options, &cert, &key, &ca); !s.ok()) return s;
  std::shared_ptr<grpc::ServerCredentials> creds =
      options.reload_interval_seconds > 0
          ? WatchingCredentials(options)
          : FixedCredentials(options, std::move(cert), key, std::move(ca));
  if (creds == nullptr) return absl::InvalidArgumentError("gRPC refused the TLS material");
  return creds;
}

absl::Status CheckTlsMaterial(const TlsOptions& options, absl::Time now) {
  if (!options.enabled()) return absl::OkStatus();
  std::string cert, key, ca;
  const auto wipe = absl::MakeCleanup([&key] { WipeString(key); });
  if (absl::Status s = CheckFiles(options, &cert, &key, &ca); !s.ok()) return s;
  absl::StatusOr<CertificateInfo> leaf = ParseCertificatePem(cert);
  if (!leaf.ok()) return leaf.status();
  if (absl::FromUnixSeconds(leaf->not_after) <= now) {
    return absl::FailedPreconditionError(
        absl::StrCat("server certificate ", options.cert_file, " (", leaf->subject, ") expired at ",
                     absl::FormatTime(absl::FromUnixSeconds(leaf->not_after))));
  }
  return absl::OkStatus();
}

}  // namespace sasmint
