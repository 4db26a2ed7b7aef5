// certificate.h: what IoT Hub sees of an X.509 device certificate.
//
// IoT Hub authenticates X.509 "self-signed" (thumbprint) identities by the hex SHA-1 and SHA-256
// digests of the client certificate's DER encoding, compared case-insensitively with the
// registered primary and secondary thumbprints (docs/token-spec.md §6, "X.509 thumbprints").
// ParseCertificatePem computes both, with the validity dates, using OpenSSL 3 (the service's
// library; signer/ stays free of X.509). Judging the result against a registration is the
// job of VerifyCertificate (verifier.h). All functions are thread-safe.
#ifndef SASMINT_SERVICE_VERIFY_CERTIFICATE_H_
#define SASMINT_SERVICE_VERIFY_CERTIFICATE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint {

// kMaxCertificatePemBytes bounds the PEM text accepted (a device certificate is 1-4 KiB).
inline constexpr size_t kMaxCertificatePemBytes = 64 * 1024;

// CertificateInfo is the public part of a certificate that thumbprint authentication uses.
struct CertificateInfo {
  std::string sha1_thumbprint;    // 40 uppercase hex digits, no separators
  std::string sha256_thumbprint;  // 64 uppercase hex digits, no separators
  int64_t not_before = 0;         // Unix seconds
  int64_t not_after = 0;          // Unix seconds
  std::string subject;            // one line, RFC 2253 (e.g. "CN=dev1")
};

// ParseCertificatePem returns the first certificate of `pem` (a "BEGIN CERTIFICATE" block;
// text around it is ignored). INVALID_ARGUMENT if there is none, it cannot be parsed, or the
// text exceeds kMaxCertificatePemBytes.
absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem);

// NormalizeThumbprint returns `thumbprint` as IoT Hub compares it: ':' and whitespace removed,
// uppercase (the CLI writes uppercase SHA-256, Windows tools add spaces, OpenSSL adds colons).
std::string NormalizeThumbprint(absl::string_view thumbprint);

// ThumbprintMatches returns whether the registered `thumbprint` (any case and separators) names
// `cert`: equal to its SHA-1 or its SHA-256 thumbprint. An empty thumbprint matches nothing.
bool ThumbprintMatches(absl::string_view thumbprint, const CertificateInfo& cert);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFY_CERTIFICATE_H_
