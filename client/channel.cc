#include "client/channel.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "common/pem_file.h"

namespace sasmint {

grpc::ChannelArguments GatewayChannelArguments(grpc::ChannelArguments args) {
  args.SetServiceConfigJSON(std::string(kGatewayServiceConfig));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(const std::string& target,
                                                                 const ClientTlsOptions& tls,
                                                                 grpc::ChannelArguments args) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (!tls.enabled()) {
    if (!tls.cert_file.empty() || !tls.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert, --tls-key and --tls-server-name need --tls-ca FILE (the server's CA)");
    }
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadCaFile(tls.ca_file, "CA file");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  const auto wipe = absl::MakeCleanup([&ssl] { WipeString(ssl.pem_private_key); });
  if (!tls.cert_file.empty()) {
    if (absl::Status s = ReadCertificateAndKey(tls.cert_file, tls.key_file, &ssl.pem_cert_chain,
                                               &ssl.pem_private_key);
        !s.ok()) {
      return s;
    }
  }
  if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (creds == nullptr) return absl::InvalidArgumentError("gRPC refused the TLS material");
  return grpc::CreateCustomChannel(target, creds, args);
}

}  // namespace sasmint
