#include "service/verify/certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/openssl_ptr.h"

namespace sasmint {
namespace {

absl::StatusOr<std::string> Thumbprint(const X509* cert, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, md, digest, &size) != 1) {
    return absl::InvalidArgumentError("cannot compute the certificate's digest");
  }
  return absl::AsciiStrToUpper(
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size)));
}

absl::StatusOr<int64_t> ToUnixSeconds(const ASN1_TIME* t, absl::string_view what) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", what, " is not a valid time"));
  }
  // ASN1_TIME_to_tm gives UTC; timegm does not consult the local time zone.
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem) {
  if (pem.size() > kMaxCertificatePemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate PEM is ", pem.size(), " bytes; the maximum is ", kMaxCertificatePemBytes));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::ResourceExhaustedError("cannot allocate a BIO");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        "no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)");
  }
  CertificateInfo info;
  auto sha1 = Thumbprint(cert.get(), EVP_sha1());
  if (!sha1.ok()) return sha1.status();
  info.sha1_thumbprint = *std::move(sha1);
  auto sha256 = Thumbprint(cert.get(), EVP_sha256());
  if (!sha256.ok()) return sha256.status();
  info.sha256_thumbprint = *std::move(sha256);
  auto not_before = ToUnixSeconds(X509_get0_notBefore(cert.get()), "notBefore");
  if (!not_before.ok()) return not_before.status();
  info.not_before = *not_before;
  auto not_after = ToUnixSeconds(X509_get0_notAfter(cert.get()), "notAfter");
  if (!not_after.ok()) return not_after.status();
  info.not_after = *not_after;

  BioPtr out(BIO_new(BIO_s_mem()));
  if (out != nullptr &&
      X509_NAME_print_ex(out.get(), X509_get_subject_name(cert.get()), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(out.get(), &data);
    if (size > 0) info.subject.assign(data, static_cast<size_t>(size));
  }
  return info;
}

std::string NormalizeThumbprint(absl::string_view thumbprint) {
  std::string out;
  out.reserve(thumbprint.size());
  for (char c : thumbprint) {
    if (c == ':' || absl::ascii_isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool ThumbprintMatches(absl::string_view thumbprint, const CertificateInfo& cert) {
  const std::string normalized = NormalizeThumbprint(thumbprint);
  if (normalized.empty()) return false;
  return normalized == cert.sha1_thumbprint || normalized == cert.sha256_thumbprint;
}

}  // namespace sasmint
