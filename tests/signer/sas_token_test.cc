#include "signer/sas_token.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/hmac_sha256.h"
#include "signer/secret_bytes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::LoadTestVectors;
using ::sasmint::testing::ReadVectorFile;
using ::sasmint::testing::StatusIs;
using ::sasmint::testing::TestDataPath;
using ::sasmint::testing::VectorBlock;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kFile[] = "sas_tokens.txt";
constexpr absl::string_view kHub = "myhub.azure-devices.net";
// TV-5 key (az CLI tests), 32 bytes.
constexpr absl::string_view kKeyB64 = "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=";
constexpr int64_t kExpiry = 1471940363;

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

HmacKey TestKey() {
  absl::StatusOr<SecretBytes> key = DecodeBase64Key(kKeyB64);
  if (!key.ok()) std::abort();
  return HmacKey::FromSecret(*key);
}

// --- Every block of sas_tokens.txt -----------------------------------------------------------

const std::set<std::string>& KnownKinds() {
  static const auto* kinds =
      new std::set<std::string>{"device", "policy", "raw", "hmac", "string-to-sign", "derive"};
  return *kinds;
}

TEST(SasVectorFileTest, YieldsBlocksOfEveryKind) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ReadVectorFile(TestDataPath(kFile)));
  ASSERT_FALSE(blocks.empty()) << kFile << " yields no blocks";
  std::set<std::string> seen;
  for (const VectorBlock& b : blocks) {
    ASSERT_OK_AND_ASSIGN(std::string kind, b.Get("Kind"));
    EXPECT_TRUE(KnownKinds().count(kind)) << b.Location() << ": unknown Kind " << kind;
    EXPECT_FALSE(b.source.empty()) << b.Location() << " has no # Source: line";
    seen.insert(kind);
  }
  EXPECT_EQ(seen, KnownKinds());
}

class SasVectorTest : public ::testing::TestWithParam<VectorBlock> {
 protected:
  const VectorBlock& block() const { return GetParam(); }

  // Field returns a field the block was checked to have.
  std::string Field(absl::string_view name) const { return block().GetOr(name, ""); }

  absl::StatusOr<int64_t> Expiry() const { return block().GetInt("Expiry"); }

  // TokenFromScope checks a device/module/policy block: BuildToken must reproduce Token byte for
  // byte, and ParseToken must take it apart into what was signed.
  void CheckToken(const TokenScope& scope) {
    ASSERT_OK_AND_ASSIGN(SecretBytes secret, DecodeBase64Key(Field("Key")));
    EXPECT_OK(ValidateKeyLength(secret));
    const HmacKey key = HmacKey::FromSecret(secret);
    ASSERT_OK_AND_ASSIGN(int64_t expiry, Expiry());
    ASSERT_OK_AND_ASSIGN(std::string token, BuildToken(scope, key, expiry));
    EXPECT_EQ(token, Field("Token")) << block().source;

    ASSERT_OK_AND_ASSIGN(ParsedToken parsed, ParseToken(Field("Token")));
    EXPECT_EQ(parsed.encoded_resource, EncodedResource(scope));
    EXPECT_EQ(parsed.resource, ResourceUri(scope));
    EXPECT_EQ(parsed.expiry, expiry);
    EXPECT_EQ(parsed.expiry_text, absl::StrCat(expiry));
    if (KeyName(scope).empty()) {
      EXPECT_EQ(parsed.key_name, std::nullopt);
    } else {
      EXPECT_THAT(parsed.key_name, Optional(std::string(KeyName(scope))));
    }
    EXPECT_EQ(parsed.StringToSign(), StringToSign(EncodedResource(scope), expiry));
    const Mac mac = key.Sign(Bytes(parsed.StringToSign()));
    EXPECT_TRUE(crypto::ConstantTimeEquals(parsed.signature, mac));
  }
};

TEST_P(SasVectorTest, MatchesPublishedValue) {
  const VectorBlock& b = block();
  SCOPED_TRACE(b.Location());
  ASSERT_OK_AND_ASSIGN(std::string kind, b.Get("Kind"));
  if (kind == "device") {
    ASSERT_OK(b.ExpectFields({"Kind", "Hub", "Device", "Key", "Expiry", "Token"}, {"Module"}));
    CheckToken(b.Has("Module") ? TokenScope::Module(Field("Hub"), Field("Device"), Field("Module"))
                               : TokenScope::Device(Field("Hub"), Field("Device")));
  } else if (kind == "policy") {
    ASSERT_OK(b.ExpectFields({"Kind", "Hub", "Policy", "Key", "Expiry", "Token"}, {"Resource"}));
    CheckToken(TokenScope::Policy(Field("Hub"), Field("Policy"), Field("Resource")));
  } else if (kind == "raw") {
    // The resource is used as given (not encoded): the SDK signs whatever sr text it is handed.
    ASSERT_OK(b.ExpectFields({"Kind", "Resource", "Key", "Expiry", "Signature"}, {"Policy"}));
    ASSERT_OK_AND_ASSIGN(SecretBytes secret, DecodeBase64Key(Field("Key")));
    ASSERT_OK_AND_ASSIGN(int64_t expiry, Expiry());
    const Mac mac =
        HmacKey::FromSecret(secret).Sign(Bytes(StringToSign(Field("Resource"), expiry)));
    EXPECT_EQ(Base64Encode(mac), Field("Signature"));
    // FormatToken + ParseToken carry the same signature and key name through the text.
    ASSERT_OK_AND_ASSIGN(ParsedToken parsed,
                         ParseToken(FormatToken(Field("Resource"), mac, expiry, Field("Policy"))));
    EXPECT_EQ(parsed.signature, mac);
    if (b.Has("Policy")) {
      EXPECT_THAT(parsed.key_name, Optional(Field("Policy")));
    }
  } else if (kind == "hmac") {
    ASSERT_OK(b.ExpectFields({"Kind", "Key", "Message", "Signature"}, {"KeyHex"}));
    ASSERT_OK_AND_ASSIGN(SecretBytes secret, DecodeBase64Key(Field("Key")));
    if (b.Has("KeyHex")) {
      ASSERT_OK_AND_ASSIGN(std::string key_bytes, b.GetBytes("KeyHex"));
      EXPECT_TRUE(
          crypto::ConstantTimeEquals(secret.Reveal(SecretKeyAccess::Get()), Bytes(key_bytes)));
    }
    EXPECT_EQ(Base64Encode(HmacKey::FromSecret(secret).Sign(Bytes(Field("Message")))),
              Field("Signature"));
  } else if (kind == "string-to-sign") {
    ASSERT_OK(b.ExpectFields({"Kind", "Hub", "Device", "Expiry", "StringToSign"}, {"Module"}));
    const TokenScope scope =
        b.Has("Module") ? TokenScope::Module(Field("Hub"), Field("Device"), Field("Module"))
                        : TokenScope::Device(Field("Hub"), Field("Device"));
    EXPECT_OK(ValidateScope(scope));
    ASSERT_OK_AND_ASSIGN(int64_t expiry, Expiry());
    const std::string want = testing::UnescapeNewlines(Field("StringToSign"));
    ASSERT_TRUE(absl::StrContains(want, "\n")) << "the file writes the newline as \\n";
    EXPECT_EQ(StringToSign(EncodedResource(scope), expiry), want);
  } else if (kind == "derive") {
    ASSERT_OK(b.ExpectFields({"Kind", "GroupKey", "Registration", "DerivedKey"}));
    ASSERT_OK_AND_ASSIGN(SecretBytes group, DecodeBase64Key(Field("GroupKey")));
    const SecretBytes derived = DeriveDeviceKey(group, Field("Registration"));
    EXPECT_EQ(derived.size(), kMacSize);
    EXPECT_EQ(Base64Encode(derived.Reveal(SecretKeyAccess::Get())), Field("DerivedKey"));
  } else {
    FAIL() << "unknown Kind '" << kind << "': teach sas_token_test.cc about it";
  }
}

INSTANTIATE_TEST_SUITE_P(SasTokensTxt, SasVectorTest, ::testing::ValuesIn(LoadTestVectors(kFile)),
                         [](const ::testing::TestParamInfo<VectorBlock>& test) {
                           return testing::BlockTestName(test.param, test.param.GetOr("Kind", ""));
                         });

TEST(SasTokenTest, EncodingVariantFromSpec) {
  // docs/token-spec.md §7.3 (computed with Python's quote(safe=""), not published): the
  // special characters of a device ID are escaped with uppercase hex in sr and in the signed text.
  ASSERT_OK_AND_ASSIGN(
      std::string token,
      BuildToken(TokenScope::Device("iot-hub-for-test.azure-devices.net", "dev+1#a!(b)*'c"),
                 TestKey(), kExpiry));
  EXPECT_EQ(token,
            "SharedAccessSignature "
            "sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fdev%2B1%23a%21%28b%29%2A%27c"
            "&sig=52YLjGLf9Lpycywancbef6Pv%2BfYotuwigTS9kUuBpDc%3D&se=1471940363");
}

// --- Scopes --------------------------------------------------------------------------------------

TEST(SasTokenTest, ResourceUriAndKeyNamePerKind) {
  const TokenScope device = TokenScope::Device(kHub, "dev1");
  const TokenScope module = TokenScope::Module(kHub, "dev1", "mod1");
  const TokenScope hub_policy = TokenScope::Policy(kHub, "iothubowner");
  const TokenScope path_policy = TokenScope::Policy(kHub, "service", "devices/dev1");
  const TokenScope reg = TokenScope::Registration("0ne00000000", "reg-1");
  EXPECT_EQ(ResourceUri(device), "myhub.azure-devices.net/devices/dev1");
  EXPECT_EQ(ResourceUri(module), "myhub.azure-devices.net/devices/dev1/modules/mod1");
  EXPECT_EQ(ResourceUri(hub_policy), "myhub.azure-devices.net");
  EXPECT_EQ(ResourceUri(path_policy), "myhub.azure-devices.net/devices/dev1");
  EXPECT_EQ(ResourceUri(reg), "0ne00000000/registrations/reg-1");
  EXPECT_EQ(EncodedResource(module), "myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1");
  EXPECT_EQ(EncodedResource(reg), "0ne00000000%2Fregistrations%2Freg-1");
  EXPECT_EQ(KeyName(device), "");
  EXPECT_EQ(KeyName(module), "");
  EXPECT_EQ(KeyName(hub_policy), "iothubowner");
  EXPECT_EQ(KeyName(reg), "registration");
  for (const TokenScope* s : {&device, &module, &hub_policy, &path_policy, &reg}) {
    EXPECT_OK(ValidateScope(*s));
  }
}

TEST(SasTokenTest, StringToSignAndFormat) {
  EXPECT_EQ(StringToSign("a%2Fb", 12345), "a%2Fb\n12345");
  EXPECT_EQ(StringToSign("x", kMaxExpiry), "x\n253402300799");
  Mac mac{};
  mac.fill(0xfb);  // base64 "+/v7..." exercises the + and / escapes
  const std::string token = FormatToken("sr%2Fx", mac, 7, "my policy");
  EXPECT_EQ(token,
            "SharedAccessSignature sr=sr%2Fx&sig=%2B%2Fv7%2B%2Fv7%2B%2Fv7%2B%2Fv7%2B%2Fv7%2B%2Fv7"
            "%2B%2Fv7%2B%2Fv7%2B%2Fv7%2B%2Fv7%2B%2Fs%3D&se=7&skn=my%20policy");
  EXPECT_FALSE(absl::StrContains(FormatToken("sr", mac, 7, ""), "skn"));
}

TEST(SasTokenTest, SignatureFieldNeverHasRawBase64Punctuation) {
  const HmacKey key = TestKey();
  int escapes = 0;
  for (int i = 0; i < 300; ++i) {
    ASSERT_OK_AND_ASSIGN(
        std::string token,
        BuildToken(TokenScope::Device(kHub, absl::StrCat("dev", i)), key, kExpiry));
    const size_t sig_at = token.find("&sig=") + 5;
    const absl::string_view sig =
        absl::string_view(token).substr(sig_at, token.find("&se=") - sig_at);
    for (char c : sig) {
      ASSERT_TRUE(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '%') << token;
    }
    escapes += absl::StrContains(sig, "%2B") + absl::StrContains(sig, "%2F");
    ASSERT_OK_AND_ASSIGN(ParsedToken parsed, ParseToken(token));
    ASSERT_EQ(parsed.signature, key.Sign(Bytes(parsed.StringToSign())));
  }
  EXPECT_GT(escapes, 0);  // the sample did exercise the escapes
}

// --- Identifier validation -----------------------------------------------------------------------

bool IsAsciiAlnum(int c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

TEST(ValidateIdentityIdTest, Lengths) {
  EXPECT_OK(ValidateIdentityId(std::string(kMaxIdLength, 'a'), "device ID"));
  EXPECT_OK(ValidateIdentityId("a", "device ID"));
  EXPECT_THAT(ValidateIdentityId(std::string(kMaxIdLength + 1, 'a'), "device ID"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("device ID"), HasSubstr("129"), HasSubstr("128"))));
  EXPECT_THAT(ValidateIdentityId("", "module ID"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("module ID is empty")));
  EXPECT_EQ(kMaxIdLength, 128u);
}

TEST(ValidateIdentityIdTest, EveryByte) {
  const std::string kSpecial = "-:.+%_#*?!(),=@;$'";
  for (char c : kSpecial) {
    EXPECT_OK(ValidateIdentityId(std::string(1, c), "device ID")) << c;
  }
  EXPECT_OK(ValidateIdentityId(kSpecial, "device ID"));
  for (int c = 0; c < 256; ++c) {
    const std::string id = absl::StrCat("dev", std::string(1, static_cast<char>(c)), "1");
    const bool allowed =
        IsAsciiAlnum(c) || kSpecial.find(static_cast<char>(c)) != std::string::npos;
    const absl::Status s = ValidateIdentityId(id, "device ID");
    if (allowed) {
      EXPECT_OK(s) << "byte " << c;
    } else {
      EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at offset 3")))
          << "byte " << c;
    }
  }
}

TEST(ValidateIdentityIdTest, RejectsSeparatorsAndNonAscii) {
  for (absl::string_view bad :
       {"dev/1", "dev 1", "dev&1", "d\xc3\xa9v", "dev~1", "dev\n", "dev\\1", "dev\"1", "dev<1"}) {
    EXPECT_THAT(ValidateIdentityId(bad, "device ID"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device ID contains")))
        << absl::CEscape(bad);
  }
  // Non-printable bytes are described by value, never written raw into the message.
  EXPECT_THAT(ValidateIdentityId("d\xc3\xa9v", "device ID"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte 0xc3 at offset 1")));
  EXPECT_THAT(ValidateIdentityId(absl::string_view("a\0b", 3), "device ID"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte 0x00")));
}

TEST(ValidateScopeTest, BuildTokenRejectsBadScopes) {
  const HmacKey key = TestKey();
  EXPECT_THAT(BuildToken(TokenScope::Device(kHub, std::string(129, 'd')), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device ID")));
  EXPECT_THAT(BuildToken(TokenScope::Device(kHub, "a/b"), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device ID")));
  EXPECT_THAT(BuildToken(TokenScope::Module(kHub, "dev", ""), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("module ID")));
  EXPECT_THAT(BuildToken(TokenScope::Module(kHub, "dev", "m&x"), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("module ID")));
  EXPECT_THAT(BuildToken(TokenScope::Device("bad_host", "dev"), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hub host")));
  EXPECT_THAT(BuildToken(TokenScope::Policy(kHub, "bad policy"), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy name")));
  for (absl::string_view resource : {"/devices/d", "devices/d/", "devices//d"}) {
    EXPECT_THAT(BuildToken(TokenScope::Policy(kHub, "svc", resource), key, kExpiry),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resource path")))
        << resource;
  }
  EXPECT_THAT(BuildToken(TokenScope::Registration("0ne/0", "reg"), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ID scope")));
  EXPECT_THAT(BuildToken(TokenScope::Registration("0ne0", "reg."), key, kExpiry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("registration ID")));
}

TEST(ValidateHubHostTest, Labels) {
  EXPECT_OK(ValidateHubHost(kHub));
  EXPECT_OK(ValidateHubHost(absl::StrCat(std::string(63, 'a'), ".net")));
  for (const std::string& bad :
       {std::string(""), std::string("a..b"), std::string(".a"), std::string("a."),
        std::string("a_b.net"), std::string("a:443"), absl::StrCat(std::string(64, 'a'), ".net"),
        absl::StrCat(std::string(250, 'a'), ".net")}) {
    EXPECT_THAT(ValidateHubHost(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hub host")))
        << bad;
  }
}

TEST(ValidatePolicyNameTest, CharsAndLength) {
  EXPECT_OK(ValidatePolicyName("iothubowner"));
  EXPECT_OK(ValidatePolicyName("a_b-c@d.e"));
  EXPECT_OK(ValidatePolicyName(std::string(256, 'p')));
  EXPECT_THAT(ValidatePolicyName(std::string(257, 'p')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("256")));
  for (absl::string_view bad : {"", "a b", "a/b", "a+b", "a&b", "a=b"}) {
    EXPECT_THAT(ValidatePolicyName(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("policy name")))
        << bad;
  }
}

TEST(ValidateRegistrationIdTest, CharsLengthAndLastCharacter) {
  EXPECT_OK(ValidateRegistrationId("sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6"));
  EXPECT_OK(ValidateRegistrationId("a.b_c:d-"));
  EXPECT_OK(ValidateRegistrationId(std::string(128, 'r')));
  EXPECT_THAT(ValidateRegistrationId(std::string(129, 'r')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("128")));
  for (absl::string_view bad : {"", "reg.", "reg_", "reg:", "re g", "re+g", "re/g"}) {
    EXPECT_THAT(ValidateRegistrationId(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("registration ID")))
        << bad;
  }
}

TEST(ValidateExpiryTest, Bounds) {
  EXPECT_OK(ValidateExpiry(1));
  EXPECT_OK(ValidateExpiry(kExpiry));
  EXPECT_OK(ValidateExpiry(kMaxExpiry));
  for (int64_t bad : {int64_t{0}, int64_t{-1}, kMaxExpiry + 1, INT64_MAX, INT64_MIN}) {
    EXPECT_THAT(ValidateExpiry(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expiry")))
        << bad;
    EXPECT_THAT(BuildToken(TokenScope::Device(kHub, "d"), TestKey(), bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expiry")))
        << bad;
  }
}

// --- ParseToken ----------------------------------------------------------------------------------

// TokenFields returns the "name=value" fields of a token, in order.
std::vector<std::string> TokenFields(absl::string_view token) {
  EXPECT_TRUE(absl::ConsumePrefix(&token, "SharedAccessSignature "));
  return absl::StrSplit(token, '&');
}

std::string Assemble(const std::vector<std::string>& fields) {
  return absl::StrCat("SharedAccessSignature ", absl::StrJoin(fields, "&"));
}

TEST(ParseTokenTest, RoundTripsBuildTokenForEveryKind) {
  const HmacKey key = TestKey();
  for (const TokenScope& scope :
       {TokenScope::Device(kHub, "dev+1#a!(b)*'c"), TokenScope::Module(kHub, "dev1", "mod$1"),
        TokenScope::Policy(kHub, "iothubowner"), TokenScope::Policy(kHub, "svc@x", "devices/d1"),
        TokenScope::Registration("0ne00000000", "reg-1")}) {
    SCOPED_TRACE(ResourceUri(scope));
    ASSERT_OK_AND_ASSIGN(std::string token, BuildToken(scope, key, kExpiry));
    ASSERT_OK_AND_ASSIGN(ParsedToken parsed, ParseToken(token));
    EXPECT_EQ(parsed.encoded_resource, EncodedResource(scope));
    EXPECT_EQ(parsed.resource, ResourceUri(scope));
    EXPECT_EQ(parsed.expiry, kExpiry);
    EXPECT_EQ(parsed.expiry_text, "1471940363");
    EXPECT_EQ(parsed.key_name.value_or("<none>"),
              KeyName(scope).empty() ? "<none>" : std::string(KeyName(scope)));
    EXPECT_EQ(parsed.signature, key.Sign(Bytes(StringToSign(EncodedResource(scope), kExpiry))));
    EXPECT_EQ(FormatToken(parsed.encoded_resource, parsed.signature, parsed.expiry,
                          parsed.key_name.value_or("")),
              token);
  }
}

TEST(ParseTokenTest, FieldOrderIsFree) {
  ASSERT_OK_AND_ASSIGN(std::string token,
                       BuildToken(TokenScope::Policy(kHub, "iothubowner"), TestKey(), kExpiry));
  ASSERT_OK_AND_ASSIGN(ParsedToken want, ParseToken(token));
  std::vector<std::string> fields = TokenFields(token);
  ASSERT_EQ(fields.size(), 4u);
  std::sort(fields.begin(), fields.end());
  int orders = 0;
  do {
    ASSERT_OK_AND_ASSIGN(ParsedToken got, ParseToken(Assemble(fields)));
    EXPECT_EQ(got.encoded_resource, want.encoded_resource);
    EXPECT_EQ(got.signature, want.signature);
    EXPECT_EQ(got.expiry, want.expiry);
    EXPECT_EQ(got.key_name, want.key_name);
    ++orders;
  } while (std::next_permutation(fields.begin(), fields.end()));
  EXPECT_EQ(orders, 24);
}

TEST(ParseTokenTest, FieldNamesAreCaseInsensitive) {
  ASSERT_OK_AND_ASSIGN(std::string token,
                       BuildToken(TokenScope::Policy(kHub, "iothubowner"), TestKey(), kExpiry));
  ASSERT_OK_AND_ASSIGN(ParsedToken want, ParseToken(token));
  std::vector<std::string> fields = TokenFields(token);
  const char* kNames[][4] = {{"SR", "SIG", "SE", "SKN"}, {"Sr", "Sig", "sE", "Skn"}};
  for (const auto& names : kNames) {
    std::vector<std::string> renamed;
    for (size_t i = 0; i < fields.size(); ++i) {
      renamed.push_back(absl::StrCat(names[i], fields[i].substr(fields[i].find('='))));
    }
    ASSERT_OK_AND_ASSIGN(ParsedToken got, ParseToken(Assemble(renamed)));
    EXPECT_EQ(got.signature, want.signature);
    EXPECT_EQ(got.expiry, want.expiry);
    EXPECT_EQ(got.key_name, want.key_name);
    EXPECT_EQ(got.encoded_resource, want.encoded_resource);
  }
}

TEST(ParseTokenTest, DecodesPercentEscapes) {
  Mac mac{};
  mac.fill(0xfb);
  // Lowercase escapes (the C SDK's URL_Encode) in sig, escapes in sr and skn.
  const std::string sig =
      "%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fv7%2b%2fs%3d";
  ASSERT_OK_AND_ASSIGN(
      ParsedToken parsed,
      ParseToken(absl::StrCat("SharedAccessSignature sr=hub%2fdevices%2Fd%2B1&sig=", sig,
                              "&se=5&skn=my%20policy%26x")));
  EXPECT_EQ(parsed.encoded_resource, "hub%2fdevices%2Fd%2B1");  // as signed: undecoded
  EXPECT_EQ(parsed.resource, "hub/devices/d+1");
  EXPECT_EQ(parsed.signature, mac);
  EXPECT_THAT(parsed.key_name, Optional(std::string("my policy&x")));
  EXPECT_EQ(parsed.StringToSign(), "hub%2fdevices%2Fd%2B1\n5");
}

struct BadToken {
  std::string token;
  std::string want;  // substring of the error message
};

std::vector<BadToken> BadTokens() {
  // A valid token's parts, for building each malformed variant.
  const std::string sr = "sr=myhub.azure-devices.net%2Fdevices%2Fdev1";
  const std::string sig = "sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D";
  const std::string se = "se=1471940363";
  const std::string h = "SharedAccessSignature ";
  auto sig_of = [](size_t n) {
    std::string b64 = Base64Encode(Bytes(std::string(n, '\x07')));
    absl::StrReplaceAll({{"=", "%3D"}}, &b64);
    return absl::StrCat("sig=", b64);
  };
  return {
      {"", "empty"},
      {absl::StrCat(sr, "&", sig, "&", se), "SharedAccessSignature"},
      {absl::StrCat("SharedAccessSignature", sr, "&", sig, "&", se), "SharedAccessSignature"},
      {"SharedAccessSignature", "SharedAccessSignature"},
      {absl::StrCat(h, sig, "&", se), "no sr field"},
      {absl::StrCat(h, sr, "&", se), "no sig field"},
      {absl::StrCat(h, sr, "&", sig), "no se field"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&", se), "field se twice"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&SR=x"), "field sr twice"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&skn=a&skn=b"), "field skn twice"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&foo=bar"), "unknown field 'foo'"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&sv=2"), "unknown field 'sv'"},
      {absl::StrCat(h, sr, "&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4=&", se), "raw '='"},
      {absl::StrCat(h, sr, "&sig=+XLy%2BMVZ%2BaTeOnVzN2kLeB16O%2BkSxmz6g3rS6fAf6rw%3D&", se),
       "raw '+'"},
      {absl::StrCat(h, sr, "&", sig_of(31), "&", se), "decodes to 31 bytes"},
      {absl::StrCat(h, sr, "&", sig_of(33), "&", se), "decodes to 33 bytes"},
      {absl::StrCat(h, sr, "&", sig_of(0).substr(0, 4), "&", se), "sig is empty"},
      {absl::StrCat(h, sr, "&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3G&", se),
       "invalid %-escape"},
      {absl::StrCat(h, sr, "&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd5%3D&", se),
       "not canonical base64"},
      {absl::StrCat(h, sr, "&", sig, "&se=12a"), "digits only"},
      {absl::StrCat(h, sr, "&", sig, "&se=-1"), "digits only"},
      {absl::StrCat(h, sr, "&", sig, "&se=1.5"), "digits only"},
      {absl::StrCat(h, sr, "&", sig, "&se=%31"), "digits only"},
      {absl::StrCat(h, sr, "&", sig, "&se=0123"), "leading zero"},
      {absl::StrCat(h, sr, "&", sig, "&se=99999999999999999999"), "out of range"},
      {absl::StrCat(h, sr, "&", sig, "&se=9223372036854775808"), "out of range"},
      {absl::StrCat(h, sr, "&", sig, "&se="), "se is empty"},
      {absl::StrCat(h, "sr=&", sig, "&", se), "sr is empty"},
      {absl::StrCat(h, "sr=hub%2&", sig, "&", se), "token field sr"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&skn=a%zz"), "token field skn"},
      {absl::StrCat(h, sr, "&&", sig, "&", se), "empty field"},
      {absl::StrCat(h, sr, "&", sig, "&", se, "&skn"), "has no '='"},
      {absl::StrCat(h, sr, "&", sig, "&", se, " "), "whitespace"},
  };
}

TEST(ParseTokenTest, Errors) {
  for (const BadToken& bad : BadTokens()) {
    EXPECT_THAT(ParseToken(bad.token),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad.want)))
        << bad.token;
  }
}

TEST(ParseTokenTest, TheBaseOfTheErrorCasesParses) {
  // Guards BadTokens(): each variant breaks exactly one thing in a token that is otherwise valid.
  ASSERT_OK_AND_ASSIGN(
      ParsedToken parsed,
      ParseToken("SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1"
                 "&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363"));
  EXPECT_EQ(parsed.expiry, kExpiry);
  EXPECT_EQ(parsed.key_name, std::nullopt);
  ASSERT_OK_AND_ASSIGN(
      ParsedToken max,
      ParseToken("SharedAccessSignature sr=h&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z"
                 "6FMOICd4%3D&se=999999999999999999"));
  EXPECT_EQ(max.expiry, 999999999999999999);
}

// --- DPS group enrollment ------------------------------------------------------------------------

TEST(DeriveDeviceKeyTest, IsHmacOfTheRegistrationIdAndCaseSensitive) {
  const std::string group_bytes(64, '\x5a');
  const SecretBytes group = SecretBytes::CopyFrom(Bytes(group_bytes));
  const SecretBytes upper = DeriveDeviceKey(group, "Device-ABC");
  const SecretBytes lower = DeriveDeviceKey(group, "device-abc");
  const Mac want = crypto::OracleHmacSha256(Bytes(group_bytes), Bytes("Device-ABC"));
  EXPECT_TRUE(crypto::ConstantTimeEquals(upper.Reveal(SecretKeyAccess::Get()), want));
  EXPECT_FALSE(crypto::ConstantTimeEquals(upper.Reveal(SecretKeyAccess::Get()),
                                          lower.Reveal(SecretKeyAccess::Get())));
}

}  // namespace
}  // namespace sasmint
