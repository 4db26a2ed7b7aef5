// test_certificate.h: self-signed X.509 certificates made at test time (OpenSSL 3), so that no
// test depends on a checked-in certificate that expires.
//
// Thread-safe.
#ifndef SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_
#define SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace sasmint::testing {

struct TestCertificate {
  std::string pem;  // "-----BEGIN CERTIFICATE-----" ...
  std::string der;  // the DER bytes the thumbprints are digests of
};

// MakeSelfSignedCertificate returns a certificate for CN=`common_name` with a fresh EC P-256 key,
// valid from `not_before` to `not_after` (Unix seconds). Aborts the test process on failure.
TestCertificate MakeSelfSignedCertificate(absl::string_view common_name, int64_t not_before,
                                          int64_t not_after);

// TestIdentity is a certificate with its private key, as PEM files hold them.
struct TestIdentity {
  std::string cert_pem;
  std::string key_pem;  // unencrypted PKCS#8
};

// MakeTestCa returns a self-signed CA certificate (basicConstraints CA:TRUE) for CN=`common_name`,
// valid from an hour ago for a day.
TestIdentity MakeTestCa(absl::string_view common_name);

// IssueCertificate returns a leaf certificate signed by `ca` for CN=`common_name` (none if
// empty) with subject alternative names `sans`, each "DNS:name", "URI:uri" or "IP:address" as in
// OpenSSL's configuration syntax; usable for TLS servers and clients, valid for a day.
TestIdentity IssueCertificate(const TestIdentity& ca, absl::string_view common_name,
                              const std::vector<std::string>& sans = {});

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_
