#include "service/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

void Wipe(std::string& s) {
  crypto::Cleanse(s.data(), s.size());
  s.clear();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  // Sized once, read once: a growing buffer would leave freed copies of a private key behind.
  const std::streamoff size = in.tellg();
  if (size < 0 || size > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is not a PEM file"));
  }
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) {
    Wipe(text);
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  return text;
}

std::unique_ptr<BIO, BioFree> MemBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// FirstCertificate parses the first PEM certificate of `pem`, or returns null.
std::unique_ptr<X509, X509Free> FirstCertificate(const std::string& pem) {
  auto bio = MemBio(pem);
  if (bio == nullptr) return nullptr;
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

// CheckPair checks that the files hold a certificate and the private key of that certificate.
absl::Status CheckPair(const std::string& cert_pem, const std::string& cert_file,
                       const std::string& key_pem, const std::string& key_file) {
  auto cert = FirstCertificate(cert_pem);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate file ", cert_file, " holds no PEM certificate"));
  }
  auto bio = MemBio(key_pem);
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", key_file, " holds no PEM private key (or an encrypted one)"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", key_file, " does not hold the key of certificate ", cert_file));
  }
  return absl::OkStatus();
}

// ReadPair reads and checks a certificate and key file pair into `cert` and `key`.
absl::Status ReadPair(const std::string& cert_file, const std::string& key_file, std::string* cert,
                      std::string* key) {
  absl::StatusOr<std::string> cert_text = ReadFile(cert_file, "certificate file");
  if (!cert_text.ok()) return cert_text.status();
  absl::StatusOr<std::string> key_text = ReadFile(key_file, "key file");
  if (!key_text.ok()) return key_text.status();
  *cert = *std::move(cert_text);
  *key = *std::move(key_text);
  if (absl::Status s = CheckPair(*cert, cert_file, *key, key_file); !s.ok()) {
    Wipe(*key);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadCa(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> pem = ReadFile(path, what);
  if (!pem.ok()) return pem.status();
  if (FirstCertificate(*pem) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " holds no PEM certificate"));
  }
  return pem;
}

}  // namespace

absl::Status ValidateTlsOptions(const TlsOptions& o) {
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("tls: cert_file and key_file go together");
  }
  if (!o.client_ca_file.empty() && o.cert_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: client_ca_file needs cert_file and key_file (the server's own certificate)");
  }
  if (o.require_client_cert.value_or(false) && o.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: require_client_cert needs client_ca_file (the CA that signs client certificates)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  if (absl::Status s = ValidateTlsOptions(options); !s.ok()) return s;
  if (!options.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      options.client_ca_file.empty()   ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : options.requires_client_cert() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                       : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  const auto wipe = absl::MakeCleanup([&pair] { Wipe(pair.private_key); });
  if (absl::Status s =
          ReadPair(options.cert_file, options.key_file, &pair.cert_chain, &pair.private_key);
      !s.ok()) {
    return s;
  }
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadCa(options.client_ca_file, "client CA file");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  // gRPC copies the key into its own credentials here; ours are wiped below.
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(ssl);
  for (auto& p : ssl.pem_key_cert_pairs) Wipe(p.private_key);
  if (creds == nullptr) return absl::InvalidArgumentError("gRPC refused the TLS material");
  return creds;
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
  absl::StatusOr<std::string> ca = ReadCa(tls.ca_file, "CA file");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  const auto wipe = absl::MakeCleanup([&ssl] { Wipe(ssl.pem_private_key); });
  if (!tls.cert_file.empty()) {
    if (absl::Status s =
            ReadPair(tls.cert_file, tls.key_file, &ssl.pem_cert_chain, &ssl.pem_private_key);
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
