// test_certificate.h: self-signed X.509 certificates made at test time (OpenSSL 3), so that no
// test depends on a checked-in certificate that expires.
//
// Thread-safe.
#ifndef SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_
#define SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_

#include <cstdint>
#include <string>

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

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_TEST_CERTIFICATE_H_
