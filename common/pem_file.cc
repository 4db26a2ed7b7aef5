#include "common/pem_file.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/openssl_ptr.h"

namespace sasmint {
namespace {

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// FirstCertificate parses the first PEM certificate of `pem`, or returns null.
X509Ptr FirstCertificate(const std::string& pem) {
  BioPtr bio = MemBio(pem);
  if (bio == nullptr) return nullptr;
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

// CheckPair checks that the texts hold a certificate and the private key of that certificate.
absl::Status CheckPair(const std::string& cert_pem, const std::string& cert_file,
                       const std::string& key_pem, const std::string& key_file) {
  X509Ptr cert = FirstCertificate(cert_pem);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate file ", cert_file, " holds no PEM certificate"));
  }
  BioPtr bio = MemBio(key_pem);
  EvpPkeyPtr key(bio == nullptr ? nullptr
                                : PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
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

}  // namespace

void WipeString(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  const std::streamoff size = in.tellg();
  if (size < 0 || size > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " is not a PEM file"));
  }
  std::string text(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), size)) {
    WipeString(text);
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  return text;
}

absl::Status ReadCertificateAndKey(const std::string& cert_file, const std::string& key_file,
                                   std::string* cert, std::string* key) {
  absl::StatusOr<std::string> cert_text = ReadPemFile(cert_file, "certificate file");
  if (!cert_text.ok()) return cert_text.status();
  absl::StatusOr<std::string> key_text = ReadPemFile(key_file, "key file");
  if (!key_text.ok()) return key_text.status();
  *cert = *std::move(cert_text);
  *key = *std::move(key_text);
  if (absl::Status s = CheckPair(*cert, cert_file, *key, key_file); !s.ok()) {
    WipeString(*key);
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadCaFile(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> pem = ReadPemFile(path, what);
  if (!pem.ok()) return pem.status();
  if (FirstCertificate(*pem) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " holds no PEM certificate"));
  }
  return pem;
}

}  // namespace sasmint
