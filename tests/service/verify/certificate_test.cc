// Tests of the certificate inspector with real certificates, made at test time with OpenSSL
// (tests/testing/test_certificate.h) and written to PEM files in a temporary directory, then
// judged by VerifyCertificate as IoT Hub would.
#include "service/verify/certificate.h"

#include <openssl/sha.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/verify/verifier.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_certificate.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHub[] = "hub.azure-devices.net";

using TestCert = testing::TestCertificate;

TestCert MakeCert(absl::string_view cn, int64_t not_before, int64_t not_after) {
  return testing::MakeSelfSignedCertificate(cn, not_before, not_after);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// WrittenAndReadBack writes the certificate to a PEM file, as a user would have it, and reads it.
std::string WrittenAndReadBack(const TestCert& cert, absl::string_view name) {
  const std::string path = absl::StrCat(testing::MakeTempDir(), "/", name, ".pem");
  testing::WriteFile(path, cert.pem);
  return ReadFile(path);
}

std::string Hex(const unsigned char* digest, size_t size) {
  return absl::AsciiStrToUpper(
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), size)));
}

// Colons returns `hex` lowercase with ':' between bytes, as `openssl x509 -fingerprint` and many
// tools print it.
std::string Colons(absl::string_view hex) {
  std::vector<std::string> pairs;
  for (size_t i = 0; i < hex.size(); i += 2) {
    pairs.push_back(absl::AsciiStrToLower(hex.substr(i, 2)));
  }
  return absl::StrJoin(pairs, ":");
}

int64_t Now() { return absl::ToUnixSeconds(absl::Now()); }

TEST(CertInspectorTest, ThumbprintsAreTheDigestsOfTheDerAndDatesAreExact) {
  const int64_t now = Now();
  const TestCert cert = MakeCert("dev1", now - 86400, now + 365 * 86400);
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificatePem(WrittenAndReadBack(cert, "dev1")));
  unsigned char sha1[SHA_DIGEST_LENGTH], sha256[SHA256_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(cert.der.data()), cert.der.size(), sha1);
  SHA256(reinterpret_cast<const unsigned char*>(cert.der.data()), cert.der.size(), sha256);
  EXPECT_EQ(info.sha1_thumbprint, Hex(sha1, sizeof(sha1)));
  EXPECT_EQ(info.sha256_thumbprint, Hex(sha256, sizeof(sha256)));
  EXPECT_EQ(info.sha1_thumbprint.size(), 40u);
  EXPECT_EQ(info.sha256_thumbprint.size(), 64u);
  EXPECT_EQ(info.not_before, now - 86400);
  EXPECT_EQ(info.not_after, now + 365 * 86400);
  EXPECT_EQ(info.subject, "CN=dev1");
}

TEST(CertInspectorTest, RegisteredThumbprintMatchesInAnyCaseWithColons) {
  const int64_t now = Now();
  const TestCert cert = MakeCert("dev1", now - 86400, now + 86400);
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificatePem(cert.pem));
  EXPECT_TRUE(ThumbprintMatches(Colons(info.sha256_thumbprint), info));
  EXPECT_TRUE(ThumbprintMatches(absl::AsciiStrToLower(info.sha1_thumbprint), info));
  EXPECT_TRUE(ThumbprintMatches(absl::StrCat(" ", info.sha1_thumbprint, "\n"), info));
  EXPECT_FALSE(ThumbprintMatches(info.sha256_thumbprint.substr(2), info));
  EXPECT_FALSE(ThumbprintMatches("", info));
  EXPECT_EQ(NormalizeThumbprint("ab:cd:EF"), "ABCDEF");

  OfflineRegistration keys;
  keys.primary_thumbprint = "00";
  keys.secondary_thumbprint = Colons(info.sha256_thumbprint);
  VerifyOptions options;
  options.now = now;
  const VerifyReport r =
      VerifyCertificate(info, TokenScope::Device(kHub, "dev1"), options, KeySource::Offline(keys));
  EXPECT_EQ(r.verdict, Verdict::kValid) << r.message;
  EXPECT_THAT(r.message, HasSubstr("matches the registered secondary thumbprint"));
}

TEST(CertInspectorTest, ExpiredCertificateIsCertExpired) {
  const int64_t now = Now();
  const TestCert cert = MakeCert("old", now - 400 * 86400, now - 86400);
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificatePem(WrittenAndReadBack(cert, "old")));
  OfflineRegistration keys;
  keys.primary_thumbprint = info.sha1_thumbprint;
  VerifyOptions options;
  options.now = now;
  const VerifyReport r =
      VerifyCertificate(info, TokenScope::Device(kHub, "old"), options, KeySource::Offline(keys));
  ASSERT_EQ(r.findings.size(), 1u) << r.message;
  EXPECT_EQ(r.verdict, Verdict::kCertExpired);
  EXPECT_THAT(r.message, HasSubstr("the certificate expired at"));
  EXPECT_THAT(r.message, HasSubstr("1 d ago"));
}

TEST(CertInspectorTest, OtherCertificateIsThumbprintMismatchInTheHubsFormat) {
  const int64_t now = Now();
  const TestCert registered = MakeCert("dev1", now - 86400, now + 86400);
  const TestCert presented = MakeCert("dev1", now - 86400, now + 86400);  // a new key pair
  ASSERT_OK_AND_ASSIGN(CertificateInfo reg, ParseCertificatePem(registered.pem));
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificatePem(presented.pem));
  OfflineRegistration keys;
  keys.primary_thumbprint = Colons(reg.sha256_thumbprint);
  VerifyOptions options;
  options.now = now;
  const VerifyReport r =
      VerifyCertificate(info, TokenScope::Device(kHub, "dev1"), options, KeySource::Offline(keys));
  EXPECT_EQ(r.verdict, Verdict::kThumbprintMismatch);
  EXPECT_THAT(r.message,
              HasSubstr(absl::StrCat("Thumbprint does not match configuration: Thumbprint: "
                                     "SHA1Hash=",
                                     info.sha1_thumbprint, ", SHA2Hash=", info.sha256_thumbprint,
                                     "; Configuration: PrimaryThumbprint=", reg.sha256_thumbprint,
                                     ", SecondaryThumbprint=null")));
}

TEST(CertInspectorTest, FindsTheCertificateAmongOtherTextAndRefusesGarbage) {
  const int64_t now = Now();
  const TestCert cert = MakeCert("dev1", now, now + 60);
  EXPECT_THAT(ParseCertificatePem(absl::StrCat("Bag Attributes\n  friendlyName: dev1\n", cert.pem,
                                               "trailing text\n")),
              IsOk());
  EXPECT_THAT(ParseCertificatePem("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
  std::string truncated = cert.pem;
  truncated.erase(truncated.size() / 2, 40);
  EXPECT_THAT(ParseCertificatePem(truncated),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
  EXPECT_THAT(ParseCertificatePem(std::string(kMaxCertificatePemBytes + 1, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("maximum")));
}

}  // namespace
}  // namespace sasmint
