// Tests of the verifier: one crafted token (or certificate summary) per verdict, against an
// identity table and against offline keys; several findings at once; the sr encodings that make
// IoT Hub look up another ID; and that no report carries a key or the expected signature.
#include "service/verify/verifier.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/export_loader.h"
#include "signer/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_identities.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr const char* kPrimary = testing::kTestKey;
constexpr const char* kSecondary = testing::kTestKey2;
constexpr char kOther[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr const char* kGroupKey = testing::kTestGroupKey;
constexpr char kIdScope[] = "0ne00000001";
constexpr int64_t kNow = 1700000000;
constexpr int64_t kExpiry = kNow + 3600;

HmacKey Key(const char* base64) {
  auto key = DecodeBase64Key(base64);
  EXPECT_THAT(key, IsOk());
  return HmacKey::FromSecret(*key);
}

StoredKey Stored(const char* base64) {
  StoredKey k{Key(base64), {}};
  k.fingerprint = k.hmac.Fingerprint();
  return k;
}

std::string Build(const TokenScope& scope, const char* key, int64_t expiry = kExpiry) {
  auto token = BuildToken(scope, Key(key), expiry);
  EXPECT_THAT(token, IsOk());
  return token.value_or("");
}

// Signed returns a token whose sr is `sr` exactly as given (any encoding), correctly signed.
std::string Signed(absl::string_view sr, const char* key, int64_t expiry = kExpiry,
                   absl::string_view skn = "") {
  const std::string sts = StringToSign(sr, expiry);
  const Mac mac =
      Key(key).Sign(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
  return FormatToken(sr, mac, expiry, skn);
}

std::string ExportLine(absl::string_view id, absl::string_view module, absl::string_view status,
                       const char* primary, const char* secondary = "") {
  return testing::ExportLine(id, module, primary, secondary, status);
}

std::shared_ptr<const IdentityTable> MakeTable() {
  auto table = std::make_shared<IdentityTable>();
  EXPECT_THAT(table->AddHub(kHub, HubSettings{}), IsOk());
  const std::string text = absl::StrCat(
      ExportLine("dev1", "", "enabled", kPrimary, kSecondary),
      ExportLine("dev1", "mod", "enabled", kSecondary), ExportLine("off", "", "disabled", kPrimary),
      ExportLine("dev+1", "", "enabled", kPrimary), ExportLine("a%41b", "", "enabled", kPrimary),
      R"({"id":"cam","authentication":{"type":"selfSigned","x509Thumbprint":{)",
      R"("primaryThumbprint":"AB:CD:EF","secondaryThumbprint":null}}})", "\n");
  EXPECT_THAT(LoadExportText(text, "devices.json", kHub, table.get()), IsOk());
  PolicyEntry owner{"iothubowner", kRegistryWrite | kServiceConnect | kDeviceConnect,
                    Stored(kPrimary), Stored(kSecondary), "config"};
  PolicyEntry reader{"registryRead", kRegistryRead, Stored(kOther), std::nullopt, "config"};
  EXPECT_THAT(table->AddPolicy(kHub, owner), IsOk());
  EXPECT_THAT(table->AddPolicy(kHub, reader), IsOk());
  DpsGroupEntry group{"sensors", "sn-", Stored(kGroupKey), std::nullopt, "config"};
  EXPECT_THAT(table->AddDpsGroup(kIdScope, group), IsOk());
  return table;
}

std::vector<std::string> Verdicts(const VerifyReport& r) {
  std::vector<std::string> out;
  for (const Finding& f : r.findings) out.emplace_back(VerdictName(f.verdict));
  return out;
}

std::string Dump(const VerifyReport& r) {
  std::string out = absl::StrCat(VerdictName(r.verdict), ": ", r.message);
  for (const Finding& f : r.findings)
    absl::StrAppend(&out, "\n  ", VerdictName(f.verdict), ": ", f.message);
  for (const std::string& n : r.notes) absl::StrAppend(&out, "\n  note: ", n);
  return out;
}

VerifyOptions Options(int64_t now = kNow, uint32_t right = 0) {
  VerifyOptions o;
  o.now = now;
  o.right = right;
  return o;
}

// --- One case per verdict, against the identity table -------------------------------------------

struct TableCase {
  std::string name;
  std::string token;
  Verdict verdict;
  std::string message;  // a substring of the report's message
  VerifyOptions options = Options();
};

std::string DpsDeviceKey(absl::string_view registration_id) {
  auto group = DecodeBase64Key(kGroupKey);
  return Base64Encode(DeriveDeviceKey(*group, registration_id).Reveal(SecretKeyAccess::Get()));
}

std::vector<TableCase> TableCases() {
  static const std::string dps_key = DpsDeviceKey("sn-007");
  VerifyOptions too_long = Options();
  too_long.max_lifetime_seconds = 600;
  const std::string dev1 = absl::StrCat(kHub, "%2Fdevices%2Fdev1");
  return {
      {"ValidPrimary", Build(TokenScope::Device(kHub, "dev1"), kPrimary), Verdict::kValid,
       "matches the primary key of device 'dev1'"},
      {"ValidSecondary", Build(TokenScope::Device(kHub, "dev1"), kSecondary), Verdict::kValid,
       "matches the secondary key"},
      {"ValidModule", Build(TokenScope::Module(kHub, "dev1", "mod"), kSecondary), Verdict::kValid,
       "module 'mod' of device 'dev1'"},
      {"ValidRawSr", Signed(absl::StrCat(kHub, "/devices/dev1"), kPrimary), Verdict::kValid,
       "primary key"},
      {"ValidLowercaseEscapes", Signed(absl::StrCat(kHub, "%2fdevices%2fdev1"), kPrimary),
       Verdict::kValid, "primary key"},
      {"ValidPolicy", Build(TokenScope::Policy(kHub, "iothubowner"), kPrimary), Verdict::kValid,
       "policy 'iothubowner'"},
      {"ValidDps", Build(TokenScope::Registration(kIdScope, "sn-007"), dps_key.c_str()),
       Verdict::kValid, "enrollment group 'sensors'"},
      {"ValidInsideSkewAllowance", Build(TokenScope::Device(kHub, "dev1"), kPrimary, kNow - 299),
       Verdict::kValid, "IoT Hub would accept"},
      {"MalformedRawEqualsInSig",
       absl::StrReplaceAll(Build(TokenScope::Device(kHub, "dev1"), kPrimary), {{"%3D", "="}}),
       Verdict::kMalformed, "raw '='"},
      {"MalformedHeaderCase",
       absl::StrCat("sharedaccesssignature ",
                    Build(TokenScope::Device(kHub, "dev1"), kPrimary).substr(22)),
       Verdict::kMalformed, "case-sensitively"},
      {"MalformedNoSe", absl::StrCat("SharedAccessSignature sr=", dev1, "&sig=abc%3D"),
       Verdict::kMalformed, "no se field"},
      {"MalformedFractionalSe",
       absl::StrReplaceAll(Build(TokenScope::Device(kHub, "dev1"), kPrimary),
                           {{absl::StrCat("se=", kExpiry), absl::StrCat("se=", kExpiry, ".5")}}),
       Verdict::kMalformed, "plain decimal"},
      {"MalformedRawPlusInSig",
       absl::StrCat("SharedAccessSignature sr=", dev1,
                    "&sig=ab+cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ%3D&se=", kExpiry),
       Verdict::kMalformed, "raw '+'"},
      {"MalformedHuge", absl::StrCat("SharedAccessSignature ", std::string(9000, '&')),
       Verdict::kMalformed, "9022 bytes long"},
      {"MalformedBadEscapeInSr", Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%G1"), kPrimary),
       Verdict::kMalformed, "does not start a %XX escape"},
      {"Expired", Build(TokenScope::Device(kHub, "dev1"), kPrimary, kNow - 301), Verdict::kExpired,
       "The specified SAS token is expired"},
      {"ValidAtTheLatestRepresentableExpiry",
       Build(TokenScope::Device(kHub, "dev1"), kPrimary, kMaxExpiry), Verdict::kValid,
       "IoT Hub would accept"},
      {"ExpiresTooLate", Signed(dev1, kPrimary, kMaxExpiry + 1), Verdict::kExpiresTooLate,
       "9999-12-31T23:59:59Z"},
      {"ExpiresTooLateForConfiguredMax", Build(TokenScope::Device(kHub, "dev1"), kPrimary),
       Verdict::kExpiresTooLate, "maximum lifetime of 10 min", too_long},
      {"SignatureMismatch", Build(TokenScope::Device(kHub, "dev1"), kOther),
       Verdict::kSignatureMismatch,
       "does not match either the primary or secondary key. Keys checked: primary, "
       "secondary (device 'dev1')"},
      {"SignatureOverAnotherSrText",
       absl::StrReplaceAll(
           Signed(absl::StrCat(kHub, "/devices/dev1"), kPrimary),
           {{absl::StrCat("sr=", kHub, "/devices/dev1"), absl::StrCat("sr=", dev1)}}),
       Verdict::kSignatureMismatch, "not over the sr the token carries"},
      {"SignatureX509Identity", Build(TokenScope::Device(kHub, "cam"), kPrimary),
       Verdict::kSignatureMismatch, "authenticates with selfSigned"},
      {"UnknownHub", Build(TokenScope::Device("other.azure-devices.net", "dev1"), kPrimary),
       Verdict::kUnknownHub, "'other.azure-devices.net', which is not served here"},
      {"UnknownDpsIdScope", Build(TokenScope::Registration("0ne99999999", "sn-1"), kPrimary),
       Verdict::kUnknownHub, "ID scope '0ne99999999'"},
      {"UnknownIdentity", Build(TokenScope::Device(kHub, "ghost"), kPrimary),
       Verdict::kUnknownIdentity, "IotHub 'hub' does not contain the specified device 'ghost'"},
      {"UnknownIdentityCase", Build(TokenScope::Device(kHub, "DEV1"), kPrimary),
       Verdict::kUnknownIdentity, "case"},
      {"UnknownIdentityNotAnIotHubId",
       Signed(absl::StrCat(kHub, "%2Fdevices%2Fd%C3%A9v"), kPrimary), Verdict::kUnknownIdentity,
       "byte 0xc3"},
      {"UnknownIdentityNoDevicePath", Signed(absl::StrCat(kHub, "%2Fdevice%2Fdev1"), kPrimary),
       Verdict::kUnknownIdentity, "names no device"},
      {"UnknownRegistration", Build(TokenScope::Registration(kIdScope, "other-1"), kPrimary),
       Verdict::kUnknownIdentity, "no enrollment group"},
      {"IdentityDisabled", Build(TokenScope::Device(kHub, "off"), kPrimary),
       Verdict::kIdentityDisabled, "device 'off' is disabled"},
      {"UnknownPolicy", Build(TokenScope::Policy(kHub, "nope"), kPrimary), Verdict::kUnknownPolicy,
       "no shared access policy 'nope'"},
      {"PolicyLacksRightAsked", Build(TokenScope::Policy(kHub, "registryRead"), kOther),
       Verdict::kPolicyLacksRight,
       "Authorization rule 'registryRead' does not allow access for 'ServiceConnect'",
       Options(kNow, kServiceConnect)},
      {"PolicyLacksRightImpliedByDeviceSr",
       Build(TokenScope::Policy(kHub, "registryRead", "devices/dev1"), kOther),
       Verdict::kPolicyLacksRight, "does not allow access for 'DeviceConnect'"},
      {"PolicyHasRightAsked", Build(TokenScope::Policy(kHub, "registryRead"), kOther),
       Verdict::kValid, "IoT Hub would accept", Options(kNow, kRegistryRead)},
      {"DeviceKeyGrantsDeviceConnectOnly", Build(TokenScope::Device(kHub, "dev1"), kPrimary),
       Verdict::kPolicyLacksRight, "DeviceConnect only", Options(kNow, kRegistryWrite)},
      // .NET's WebUtility.UrlEncode double-encodes the ID: the hub looks for 'dev%2B1'.
      {"EncodingDoubleEncodedId", Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%252B1"), kPrimary),
       Verdict::kEncodingMismatch,
       "looks for device 'dev%2B1', but the registered identity is "
       "device 'dev+1'"},
      // The C SDK's raw sr: '+' becomes a space.
      {"EncodingRawPlus", Signed(absl::StrCat(kHub, "/devices/dev+1"), kPrimary),
       Verdict::kEncodingMismatch, "raw '+', which IoT Hub decodes as a space"},
      // A raw '%' in an unencoded sr starts an escape: the hub looks for 'aAb'.
      {"EncodingRawPercent", Signed(absl::StrCat(kHub, "/devices/a%41b"), kPrimary),
       Verdict::kEncodingMismatch,
       "looks for device 'aAb', but the registered identity is "
       "device 'a%41b'"},
      {"EncodingWholeSrTwice", Signed(absl::StrCat(kHub, "%252Fdevices%252Fdev1"), kPrimary),
       Verdict::kEncodingMismatch, "percent-encoded twice"},
  };
}

class VerifierTableTest : public ::testing::TestWithParam<TableCase> {};

TEST_P(VerifierTableTest, Verdict) {
  static const std::shared_ptr<const IdentityTable> table = MakeTable();
  const TableCase& c = GetParam();
  const VerifyReport r = Verify(c.token, c.options, KeySource::Table(*table));
  EXPECT_EQ(VerdictName(r.verdict), VerdictName(c.verdict)) << Dump(r);
  EXPECT_THAT(r.message, HasSubstr(c.message)) << Dump(r);
  if (c.verdict == Verdict::kValid) {
    EXPECT_TRUE(r.findings.empty()) << Dump(r);
  } else {
    ASSERT_FALSE(r.findings.empty());
    EXPECT_EQ(r.findings[0].verdict, c.verdict);
    EXPECT_EQ(r.findings[0].message, r.message);
  }
  // Each problem is reported once.
  for (size_t i = 0; i < r.findings.size(); ++i) {
    for (size_t j = i + 1; j < r.findings.size(); ++j) {
      EXPECT_FALSE(r.findings[i].verdict == r.findings[j].verdict &&
                   r.findings[i].message == r.findings[j].message)
          << Dump(r);
    }
  }
  // Nothing in a report reveals a key, nor the signature a key would give for this token.
  for (const char* key : {kPrimary, kSecondary, kOther, kGroupKey}) {
    EXPECT_THAT(Dump(r), Not(HasSubstr(key)));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryVerdict, VerifierTableTest, ::testing::ValuesIn(TableCases()),
                         [](const auto& test) { return test.param.name; });

TEST(VerifierTest, EveryVerdictIsCovered) {
  std::set<Verdict> covered;
  for (const TableCase& c : TableCases()) covered.insert(c.verdict);
  // RETIRED_KEY (offline, below: the key store does not record rotations yet) and the two
  // certificate verdicts (VerifierCertificateTest) are covered elsewhere.
  covered.insert({Verdict::kRetiredKey, Verdict::kThumbprintMismatch, Verdict::kCertExpired});
  EXPECT_EQ(covered.size(), kVerdictOrder.size());
}

TEST(VerifierTest, ReportsTheMatchedSlotAndExpiry) {
  const auto table = MakeTable();
  const VerifyReport r = Verify(Build(TokenScope::Device(kHub, "dev1"), kSecondary), Options(),
                                KeySource::Table(*table));
  ASSERT_TRUE(r.matched_key.has_value()) << Dump(r);
  EXPECT_EQ(r.matched_key->slot, KeySlot::kSecondary);
  EXPECT_EQ(r.matched_key->version, 1u);
  EXPECT_FALSE(r.matched_key->retired);
  EXPECT_EQ(r.expires_at, kExpiry);
  EXPECT_THAT(r.notes, ElementsAre(HasSubstr("expires at 2023-11-14T23:13:20Z, in 1 h")));
}

TEST(VerifierTest, InsideTheAllowanceIsValidWithANote) {
  const auto table = MakeTable();
  const VerifyReport r = Verify(Build(TokenScope::Device(kHub, "dev1"), kPrimary, kNow - 120),
                                Options(), KeySource::Table(*table));
  EXPECT_TRUE(r.valid()) << Dump(r);
  EXPECT_THAT(r.notes, ElementsAre(HasSubstr("2 min ago, but is inside IoT Hub's 5 min "
                                             "clock-skew allowance")));
  const VerifyReport late = Verify(Build(TokenScope::Device(kHub, "dev1"), kPrimary, kNow - 420),
                                   Options(), KeySource::Table(*table));
  EXPECT_THAT(late.message, HasSubstr("7 min ago, beyond IoT Hub's 5 min clock-skew allowance"));
}

TEST(VerifierTest, ReportsEveryProblemMostImportantFirst) {
  const auto table = MakeTable();
  // Expired, signed with another key, and with a raw '=' in sig: three problems.
  const std::string token = absl::StrReplaceAll(
      Build(TokenScope::Device(kHub, "dev1"), kOther, kNow - 3600), {{"%3D", "="}});
  const VerifyReport r = Verify(token, Options(), KeySource::Table(*table));
  EXPECT_THAT(Verdicts(r), ElementsAre("MALFORMED", "SIGNATURE_MISMATCH", "EXPIRED")) << Dump(r);
  EXPECT_EQ(r.verdict, Verdict::kMalformed);

  // An unknown field, a disabled device, a wrong key, a right device keys do not grant, expired.
  const std::string many = absl::StrCat(
      "SharedAccessSignature ",
      Build(TokenScope::Device(kHub, "off"), kOther, kNow - 1000).substr(22), "&foo=bar");
  const VerifyReport m = Verify(many, Options(kNow, kServiceConnect), KeySource::Table(*table));
  EXPECT_THAT(Verdicts(m), ElementsAre("MALFORMED", "IDENTITY_DISABLED", "SIGNATURE_MISMATCH",
                                       "POLICY_LACKS_RIGHT", "EXPIRED"))
      << Dump(m);
}

TEST(VerifierTest, SyntaxFindingsAreBounded) {
  const VerifyReport r = Verify(absl::StrCat("SharedAccessSignature ", std::string(4000, '&')),
                                Options(), KeySource::Offline(OfflineRegistration{}));
  EXPECT_EQ(r.findings.size(), 11u) << Dump(r);
  EXPECT_THAT(r.findings.back().message, HasSubstr("further syntax problems are not listed"));
}

TEST(VerifierTest, EncodingMismatchStillChecksTheMeantIdentitysKey) {
  const auto table = MakeTable();
  // Double-encoded and signed with a wrong key: both reported.
  const VerifyReport r = Verify(Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%252B1"), kOther),
                                Options(), KeySource::Table(*table));
  EXPECT_THAT(Verdicts(r), ElementsAre("ENCODING_MISMATCH", "SIGNATURE_MISMATCH")) << Dump(r);
  EXPECT_THAT(r.message, HasSubstr("sr=hub.azure-devices.net%2Fdevices%2Fdev%2B1"));
  // The raw '+' form signed with the right key: only the encoding is wrong.
  const VerifyReport plus = Verify(Signed(absl::StrCat(kHub, "/devices/dev+1"), kPrimary),
                                   Options(), KeySource::Table(*table));
  EXPECT_THAT(Verdicts(plus), ElementsAre("ENCODING_MISMATCH")) << Dump(plus);
  EXPECT_THAT(plus.message, HasSubstr("looks for device 'dev 1' instead of device 'dev+1'"));
  ASSERT_TRUE(plus.matched_key.has_value());
  // An ID with a literal '%' that is registered as the hub reads it is not a mismatch.
  const VerifyReport literal = Verify(Build(TokenScope::Device(kHub, "a%41b"), kPrimary), Options(),
                                      KeySource::Table(*table));
  EXPECT_TRUE(literal.valid()) << Dump(literal);
}

TEST(VerifierTest, InspectNamesEveryScopeBeforeAnyLookup) {
  const InspectedToken in =
      InspectToken(Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%252B1"), kPrimary), Options());
  ASSERT_EQ(in.scopes.size(), 2u);
  EXPECT_EQ(in.scopes[0].device_id, "dev%2B1");  // what the hub looks up
  EXPECT_EQ(in.scopes[1].device_id, "dev+1");    // what the sender meant
  EXPECT_TRUE(in.scope_ambiguous);
  const InspectedToken policy = InspectToken(
      Build(TokenScope::Policy(kHub, "iothubowner", "devices/dev1"), kPrimary), Options());
  ASSERT_EQ(policy.scopes.size(), 1u);
  EXPECT_EQ(policy.scopes[0].kind, ScopeKind::kPolicy);
  EXPECT_EQ(policy.scopes[0].policy, "iothubowner");
  EXPECT_EQ(policy.scopes[0].resource, "devices/dev1");
  EXPECT_TRUE(InspectToken("garbage", Options()).scopes.empty());
}

// --- Offline keys ------------------------------------------------------------------------------

TEST(VerifierOfflineTest, PublishedTokensAreValidWithTheirKeys) {
  auto blocks = testing::ReadVectorFile(testing::TestDataPath("sas_tokens.txt"));
  ASSERT_THAT(blocks, IsOk());
  int checked = 0;
  for (const auto& block : *blocks) {
    const std::string kind = block.GetOr("Kind", "");
    if (kind != "device" && kind != "policy") continue;
    SCOPED_TRACE(block.Location());
    OfflineRegistration keys;
    keys.primary = Key(block.GetOr("Key", "").c_str());
    keys.hub = block.GetOr("Hub", "");
    if (kind == "device") keys.device_id = block.GetOr("Device", "");
    auto expiry = block.GetInt("Expiry");
    ASSERT_THAT(expiry, IsOk());
    const VerifyReport r =
        Verify(block.GetOr("Token", ""), Options(*expiry - 60), KeySource::Offline(keys));
    EXPECT_TRUE(r.valid()) << Dump(r);
    EXPECT_THAT(r.message, HasSubstr("matches the primary key of --key"));
    EXPECT_THAT(r.message, HasSubstr("offline check"));
    // The same token a day later is expired.
    EXPECT_EQ(Verify(block.GetOr("Token", ""), Options(*expiry + 86400), KeySource::Offline(keys))
                  .verdict,
              Verdict::kExpired);
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

TEST(VerifierOfflineTest, RetiredKeyIsNamedWithItsVersion) {
  OfflineRegistration keys;
  keys.primary = Key(kPrimary);
  keys.secondary = Key(kSecondary);
  keys.retired.push_back(RetiredKey{Stored(kOther), KeySlot::kPrimary, 3, kNow - 86400});
  const VerifyReport r =
      Verify(Build(TokenScope::Device(kHub, "dev1"), kOther), Options(), KeySource::Offline(keys));
  EXPECT_EQ(r.verdict, Verdict::kRetiredKey) << Dump(r);
  EXPECT_THAT(r.message, HasSubstr("signed with a retired key: a former primary key of the "
                                   "identity (key version 3, replaced at 2023-11-13T22:13:20Z)"));
  ASSERT_TRUE(r.matched_key.has_value());
  EXPECT_TRUE(r.matched_key->retired);
  EXPECT_EQ(r.matched_key->version, 3u);
}

TEST(VerifierOfflineTest, ExpectedHubAndIdentity) {
  OfflineRegistration keys;
  keys.primary = Key(kPrimary);
  keys.hub = kHub;
  keys.device_id = "dev+1";
  EXPECT_TRUE(Verify(Build(TokenScope::Device(kHub, "dev+1"), kPrimary), Options(),
                     KeySource::Offline(keys))
                  .valid());
  EXPECT_EQ(Verify(Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%252B1"), kPrimary), Options(),
                   KeySource::Offline(keys))
                .verdict,
            Verdict::kEncodingMismatch);
  EXPECT_EQ(
      Verify(Build(TokenScope::Device(kHub, "dev2"), kPrimary), Options(), KeySource::Offline(keys))
          .verdict,
      Verdict::kUnknownIdentity);
  EXPECT_EQ(Verify(Build(TokenScope::Device("x.azure-devices.net", "dev+1"), kPrimary), Options(),
                   KeySource::Offline(keys))
                .verdict,
            Verdict::kUnknownHub);
  // Without an expected identity, a %XX left after decoding is reported as a likely mismatch.
  OfflineRegistration bare;
  bare.primary = Key(kPrimary);
  const VerifyReport r = Verify(Signed(absl::StrCat(kHub, "%2Fdevices%2Fdev%252B1"), kPrimary),
                                Options(), KeySource::Offline(bare));
  EXPECT_EQ(r.verdict, Verdict::kEncodingMismatch) << Dump(r);
  EXPECT_THAT(r.message, HasSubstr("WebUtility.UrlEncode"));
  ASSERT_TRUE(r.matched_key.has_value());
}

// --- Certificates (summaries; cert_inspector_test makes real ones) --------------------------

constexpr char kSha1[] = "0123456789ABCDEF0123456789ABCDEF01234567";
constexpr char kSha256[] = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF";

CertificateInfo Cert(int64_t not_before = kNow - 86400, int64_t not_after = kNow + 86400) {
  return CertificateInfo{kSha1, kSha256, not_before, not_after, "CN=cam"};
}

TEST(VerifierCertificateTest, ThumbprintsAndDates) {
  OfflineRegistration keys;
  keys.primary_thumbprint =
      "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:"
      "77:88:99:aa:bb:cc:dd:ee:ff";
  const TokenScope cam = TokenScope::Device(kHub, "cam");
  VerifyReport r = VerifyCertificate(Cert(), cam, Options(), KeySource::Offline(keys));
  EXPECT_TRUE(r.valid()) << Dump(r);
  EXPECT_THAT(r.notes, ::testing::Contains(HasSubstr("SHA-256 thumbprint matches the registered "
                                                     "primary thumbprint")));

  keys.primary_thumbprint = "ffff";
  keys.secondary_thumbprint = absl::AsciiStrToLower(kSha1);
  r = VerifyCertificate(Cert(), cam, Options(), KeySource::Offline(keys));
  EXPECT_TRUE(r.valid()) << Dump(r);
  EXPECT_EQ(r.matched_key->slot, KeySlot::kSecondary);

  keys.secondary_thumbprint = "";
  r = VerifyCertificate(Cert(kNow - 100, kNow - 10), cam, Options(), KeySource::Offline(keys));
  EXPECT_THAT(Verdicts(r), ElementsAre("THUMBPRINT_MISMATCH", "CERT_EXPIRED")) << Dump(r);
  EXPECT_EQ(r.message,
            absl::StrCat("Thumbprint does not match configuration: Thumbprint: SHA1Hash=", kSha1,
                         ", SHA2Hash=", kSha256,
                         "; Configuration: PrimaryThumbprint=FFFF, SecondaryThumbprint=null. "
                         "Register this certificate's SHA-256 thumbprint (as the secondary first, "
                         "to rotate without downtime), or connect with the registered "
                         "certificate."));
  EXPECT_THAT(r.findings[1].message, HasSubstr("expired at"));

  keys.primary_thumbprint = kSha1;
  r = VerifyCertificate(Cert(kNow + 60), cam, Options(), KeySource::Offline(keys));
  EXPECT_EQ(r.verdict, Verdict::kCertExpired) << Dump(r);
  EXPECT_THAT(r.message, HasSubstr("not valid until"));
}

TEST(VerifierCertificateTest, AgainstTheTable) {
  const auto table = MakeTable();
  CertificateInfo cert = Cert();
  cert.sha256_thumbprint = "ABCDEF";  // the registered primary "AB:CD:EF"
  EXPECT_TRUE(
      VerifyCertificate(cert, TokenScope::Device(kHub, "cam"), Options(), KeySource::Table(*table))
          .valid());
  EXPECT_EQ(VerifyCertificate(Cert(), TokenScope::Device(kHub, "cam"), Options(),
                              KeySource::Table(*table))
                .verdict,
            Verdict::kThumbprintMismatch);
  const VerifyReport sas = VerifyCertificate(Cert(), TokenScope::Device(kHub, "dev1"), Options(),
                                             KeySource::Table(*table));
  EXPECT_EQ(sas.verdict, Verdict::kThumbprintMismatch);
  EXPECT_THAT(sas.message, HasSubstr("PrimaryThumbprint=null, SecondaryThumbprint=null (device "
                                     "'dev1' is registered with authentication type 'sas'"));
  EXPECT_EQ(VerifyCertificate(Cert(), TokenScope::Device(kHub, "ghost"), Options(),
                              KeySource::Table(*table))
                .verdict,
            Verdict::kUnknownIdentity);
  EXPECT_EQ(VerifyCertificate(Cert(), TokenScope::Device("x.azure-devices.net", "cam"), Options(),
                              KeySource::Table(*table))
                .verdict,
            Verdict::kUnknownHub);
  EXPECT_EQ(VerifyCertificate(Cert(), TokenScope::Device(kHub, "off"), Options(),
                              KeySource::Table(*table))
                .verdict,
            Verdict::kIdentityDisabled);
}

TEST(VerifierTest, VerdictNamesRoundTrip) {
  for (Verdict v : kVerdictOrder) EXPECT_EQ(ParseVerdict(VerdictName(v)), v);
  EXPECT_EQ(ParseVerdict("NOPE"), std::nullopt);
}

}  // namespace
}  // namespace sasmint
