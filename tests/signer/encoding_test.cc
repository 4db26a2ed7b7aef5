#include "signer/encoding.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/secret_bytes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::ReadVectorFile;
using ::sasmint::testing::StatusIs;
using ::sasmint::testing::TestDataPath;
using ::sasmint::testing::TestSeed;
using ::sasmint::testing::VectorBlock;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Hex(absl::Span<const uint8_t> b) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

// --- Base64 --------------------------------------------------------------------------------------

TEST(Base64Test, Rfc4648Section10Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},
                                                          {"f", "Zg=="},
                                                          {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},
                                                          {"foob", "Zm9vYg=="},
                                                          {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(Bytes(plain)), encoded);
    EXPECT_EQ(Base64EncodedSize(strlen(plain)), strlen(encoded));
    if (*plain == '\0') continue;  // the strict decoder rejects empty input (tested below)
    ASSERT_OK_AND_ASSIGN(std::string decoded, Base64Decode(encoded));
    EXPECT_EQ(decoded, plain);
  }
}

TEST(Base64Test, RoundTripsEveryLengthAndAgreesWithAbseil) {
  std::mt19937_64 rng(TestSeed());
  for (size_t n = 0; n <= 300; ++n) {
    const std::vector<uint8_t> data = testing::RandomBytes(rng, n);
    const absl::string_view as_chars(reinterpret_cast<const char*>(data.data()), n);
    const std::string encoded = Base64Encode(data);
    ASSERT_EQ(encoded, absl::Base64Escape(as_chars)) << "n=" << n;
    ASSERT_EQ(encoded.size(), Base64EncodedSize(n));
    if (n == 0) continue;
    ASSERT_OK_AND_ASSIGN(std::string decoded, Base64Decode(encoded));
    ASSERT_EQ(decoded, as_chars) << "n=" << n;
    ASSERT_OK_AND_ASSIGN(SecretBytes key, DecodeBase64Key(encoded));
    ASSERT_EQ(Hex(key.Reveal(SecretKeyAccess::Get())), Hex(data));
  }
}

TEST(Base64Test, AcceptsExactlyTheCanonicalEncodings) {
  // Strict means: Abseil's (lenient) decoder accepts the text and re-encoding the bytes gives the
  // text back. Random texts from the alphabet plus '=' (and a few bytes outside it), including
  // single-character mutations of valid encodings, must be judged and decoded the same way.
  std::mt19937_64 rng(TestSeed());
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n";
  size_t accepted = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string text;
    if (round % 2 == 0) {
      text = Base64Encode(testing::RandomBytes(rng, 1 + rng() % 66));
      text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
    } else {
      text.resize(4 * (1 + rng() % 4));
      for (char& c : text) c = alphabet[rng() % (rng() % 8 == 0 ? alphabet.size() : 64)];
      if (rng() % 2) text.back() = '=';
      if (rng() % 4 == 0) text[text.size() - 2] = '=';
    }
    std::string lenient;
    const bool canonical =
        absl::Base64Unescape(text, &lenient) && absl::Base64Escape(lenient) == text;
    absl::StatusOr<std::string> strict = Base64Decode(text);
    ASSERT_EQ(strict.ok(), canonical) << text << ": " << strict.status();
    if (canonical) {
      ASSERT_EQ(*strict, lenient) << text;
      ++accepted;
    }
  }
  EXPECT_GT(accepted, 10000u);  // both outcomes were exercised
}

TEST(Base64Test, EncodeToWritesExactlyTheEncodedSize) {
  for (size_t n = 0; n <= 10; ++n) {
    const std::string data(n, '\xfb');
    std::string out(Base64EncodedSize(n) + 4, '#');
    Base64EncodeTo(Bytes(data), out.data());
    EXPECT_EQ(out.substr(0, Base64EncodedSize(n)), Base64Encode(Bytes(data)));
    EXPECT_EQ(out.substr(Base64EncodedSize(n)), "####") << "wrote past the end for n=" << n;
  }
}

struct BadBase64 {
  const char* text;
  const char* why;  // a substring of the expected message
};

// Inputs are long and key-like so that a message echoing them would be caught.
const BadBase64 kBadBase64[] = {
    {"c2VjcmV0a2V5bWF0ZXJpYWwx!Q==", "invalid character at offset 24"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwx-_Q=", "invalid character at offset 24"},  // URL-safe alphabet
    {"c2VjcmV0a2V5 bWF0ZXJpYWwxMjM", "invalid character at offset 12"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMj\n=", "invalid character at offset 26"},
    {"c2VjcmV0a2V5bWF0ZXJp\xc3\xa9WwxMjM", "invalid character"},
    {"c2VjcmV0a2V5bW=0ZXJpYWwxMjM=", "padding '=' before the end"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMj=M", "padding '=' before the end"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxM===", "padding '=' before the end"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMjM", "not a multiple of 4"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMj", "not a multiple of 4"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMjM==", "not a multiple of 4"},
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMjN=", "non-zero bits"},  // "...MjM=" is canonical
    {"c2VjcmV0a2V5bWF0ZXJpYWwxMh==", "non-zero bits"},  // "...Mg==" is canonical
    {"====", "padding '=' before the end"},
};

TEST(Base64Test, StrictDecoderRejects) {
  for (const BadBase64& bad : kBadBase64) {
    EXPECT_THAT(Base64Decode(bad.text, "primary key"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("primary key"), HasSubstr(bad.why))))
        << absl::CEscape(bad.text);
    EXPECT_THAT(DecodeBase64Key(bad.text, "primary key"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad.why)))
        << absl::CEscape(bad.text);
  }
  EXPECT_THAT(Base64Decode(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(DecodeBase64Key("", "secondary key"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("secondary key is empty")));
}

TEST(Base64Test, CanonicalNeighboursOfTheRejectedInputsDecode) {
  // Guards the table above: each rejection is about the one defect, not the rest of the text.
  EXPECT_OK(Base64Decode("c2VjcmV0a2V5bWF0ZXJpYWwxMjM="));
  EXPECT_OK(Base64Decode("c2VjcmV0a2V5bWF0ZXJpYWwxMg=="));
  EXPECT_OK(Base64Decode("c2VjcmV0a2V5bWF0ZXJpYWwxMjMK"));
}

TEST(Base64Test, ErrorMessagesNeverEchoTheInput) {
  for (const BadBase64& bad : kBadBase64) {
    const absl::string_view text = bad.text;
    for (const absl::Status& s : {Base64Decode(text).status(), DecodeBase64Key(text).status()}) {
      ASSERT_FALSE(s.ok());
      for (size_t i = 0; i + 4 <= text.size(); ++i) {
        EXPECT_THAT(std::string(s.message()), Not(HasSubstr(text.substr(i, 4))))
            << "message echoes input " << absl::CEscape(text);
      }
    }
  }
}

TEST(Base64Test, DecodesPublishedKeyTv4) {
  // The Python SDK vector gives the decoded key bytes; find every block that has them.
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks,
                       ReadVectorFile(TestDataPath("sas_tokens.txt")));
  int checked = 0;
  for (const VectorBlock& b : blocks) {
    if (!b.Has("KeyHex")) continue;
    SCOPED_TRACE(b.Location());
    ASSERT_OK_AND_ASSIGN(std::string key_b64, b.Get("Key"));
    ASSERT_OK_AND_ASSIGN(std::string key_hex, b.Get("KeyHex"));
    ASSERT_OK_AND_ASSIGN(SecretBytes key, DecodeBase64Key(key_b64));
    EXPECT_EQ(Hex(key.Reveal(SecretKeyAccess::Get())), key_hex);
    ASSERT_OK_AND_ASSIGN(std::string plain, Base64Decode(key_b64));
    EXPECT_EQ(Hex(Bytes(plain)), key_hex);
    ++checked;
  }
  EXPECT_GE(checked, 1) << "sas_tokens.txt has no block with KeyHex (TV-4)";
}

TEST(KeyLengthTest, SixteenToSixtyFourBytes) {
  for (size_t n = 0; n <= 100; ++n) {
    const std::string encoded = Base64Encode(Bytes(std::string(n, '\x42')));
    SecretBytes key;
    if (n == 0) {
      key = SecretBytes(0);
    } else {
      ASSERT_OK_AND_ASSIGN(key, DecodeBase64Key(encoded));
    }
    ASSERT_EQ(key.size(), n);
    const absl::Status s = ValidateKeyLength(key, "group key");
    if (n >= kMinKeyBytes && n <= kMaxKeyBytes) {
      EXPECT_OK(s) << n;
    } else {
      EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                              AllOf(HasSubstr("group key"),
                                    HasSubstr(absl::StrCat("decodes to ", n, " bytes")))))
          << n;
    }
  }
  EXPECT_EQ(kMinKeyBytes, 16u);
  EXPECT_EQ(kMaxKeyBytes, 64u);
}

// --- Percent-encoding ----------------------------------------------------------------------------

bool IsUnreserved(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

TEST(PercentEncodeTest, EveryByte) {
  std::string all, want_all;
  for (int c = 0; c < 256; ++c) {
    const std::string one(1, static_cast<char>(c));
    std::string want;
    if (IsUnreserved(static_cast<uint8_t>(c))) {
      want = one;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);  // uppercase hex
      want = buf;
    }
    EXPECT_EQ(PercentEncode(one), want) << "byte " << c;
    all += one;
    want_all += want;
  }
  EXPECT_EQ(PercentEncode(all), want_all);
  // Every byte also round-trips through the decoder.
  ASSERT_OK_AND_ASSIGN(std::string back, PercentDecode(want_all));
  EXPECT_EQ(back, all);
}

TEST(PercentEncodeTest, ResourceUrisAndUtf8) {
  EXPECT_EQ(PercentEncode("myhub.azure-devices.net/devices/dev1"),
            "myhub.azure-devices.net%2Fdevices%2Fdev1");
  EXPECT_EQ(PercentEncode("Dev_1~x"), "Dev_1~x");  // never changes case
  EXPECT_EQ(PercentEncode("caf\xc3\xa9"), "caf%C3%A9");
  EXPECT_EQ(PercentEncode("a b+c=d&e%"), "a%20b%2Bc%3Dd%26e%25");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(PercentEncodeTest, EncodeToAppends) {
  std::string out = "sr=";
  PercentEncodeTo("a/b", &out);
  EXPECT_EQ(out, "sr=a%2Fb");
}

TEST(PercentDecodeTest, DecodesEitherHexCaseAndKeepsPlus) {
  ASSERT_OK_AND_ASSIGN(std::string slashes, PercentDecode("a%2Fb%2fc"));
  EXPECT_EQ(slashes, "a/b/c");
  ASSERT_OK_AND_ASSIGN(std::string s, PercentDecode("a+b%2B%2b"));
  EXPECT_EQ(s, "a+b++");
  ASSERT_OK_AND_ASSIGN(std::string nul, PercentDecode("%00%ff%FF"));
  EXPECT_EQ(nul, std::string("\x00\xff\xff", 3));
  ASSERT_OK_AND_ASSIGN(std::string empty, PercentDecode(""));
  EXPECT_EQ(empty, "");
  ASSERT_OK_AND_ASSIGN(std::string once, PercentDecode("%252F"));
  EXPECT_EQ(once, "%2F");  // decodes exactly once
}

TEST(PercentDecodeTest, Errors) {
  const struct {
    const char* text;
    const char* want;
  } kBad[] = {
      {"%", "truncated %-escape at offset 0"},     {"abc%", "truncated %-escape at offset 3"},
      {"abc%4", "truncated %-escape at offset 3"}, {"ab%G1", "invalid %-escape at offset 2"},
      {"ab%1G", "invalid %-escape at offset 2"},   {"%%41", "invalid %-escape at offset 0"},
      {"a%-1", "invalid %-escape at offset 1"},    {"a% 1", "invalid %-escape at offset 1"},
  };
  for (const auto& bad : kBad) {
    EXPECT_THAT(PercentDecode(bad.text, "token field sr"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("token field sr"), HasSubstr(bad.want))))
        << bad.text;
  }
  // The decoded prefix is not echoed either.
  EXPECT_THAT(PercentDecode("supersecretvalue%zz"),
              StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr("supersecret"))));
}

}  // namespace
}  // namespace sasmint
