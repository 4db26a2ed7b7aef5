#include "service/rpc/tls.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "common/pem_file.h"

namespace sasmint {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  if (absl::Status s = ValidateTlsOptions(options); !s.ok()) return s;
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca_file.empty()   ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : options.requires_client_cert() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                       : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  const auto wipe = absl::MakeCleanup([&pair] { WipeString(pair.private_key); });
  if (absl::Status s = ReadCertificateAndKey(options.cert_file, options.key_file, &pair.cert_chain,
                                             &pair.private_key);
      !s.ok()) {
    return s;
  }
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadCaFile(options.client_ca_file, "client CA file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  // gRPC copies the key into its own credentials here; ours are wiped below.
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(ssl);
  for (auto& p : ssl.pem_key_cert_pairs) WipeString(p.private_key);
  if (creds == nullptr) return absl::InvalidArgumentError("gRPC refused the TLS material");
  return creds;
}

}  // namespace sasmint
