#include "signer/hmac_sha256.h"

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "signer/secret_bytes.h"
#include "signer/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::LoadTestVectors;
using ::sasmint::testing::ReadVectorFile;
using ::sasmint::testing::TestDataPath;
using ::sasmint::testing::VectorBlock;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = "hmac_rfc4231.txt";

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Hex(absl::Span<const uint8_t> b) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string PatternBytes(size_t n, uint8_t salt) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 167 + salt * 29 + 3) & 0xff);
  return s;
}

TEST(HmacRfc4231FileTest, HasTestCasesOneToSeven) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ReadVectorFile(TestDataPath(kFile)));
  std::set<int64_t> cases;
  for (const VectorBlock& b : blocks) {
    ASSERT_OK_AND_ASSIGN(int64_t c, b.GetInt("Case"));
    cases.insert(c);
  }
  EXPECT_EQ(cases, (std::set<int64_t>{1, 2, 3, 4, 5, 6, 7}));
}

class HmacRfc4231Test : public ::testing::TestWithParam<VectorBlock> {
 protected:
  void SetUp() override {
    const VectorBlock& b = GetParam();
    ASSERT_OK(b.ExpectFields({"Case", "Key", "Data", "Mac"}, {"TruncateBits"}));
    ASSERT_OK_AND_ASSIGN(key_, b.GetBytes("Key"));
    ASSERT_OK_AND_ASSIGN(data_, b.GetBytes("Data"));
    ASSERT_OK_AND_ASSIGN(std::string mac, b.GetBytes("Mac"));
    mac_hex_ = Hex(Bytes(mac));
    if (b.Has("TruncateBits")) {
      ASSERT_OK_AND_ASSIGN(int64_t bits, b.GetInt("TruncateBits"));
      ASSERT_EQ(bits, static_cast<int64_t>(mac.size() * 8)) << b.Location();
      ASSERT_LT(mac.size(), kMacSize);
    } else {
      ASSERT_EQ(mac.size(), kMacSize) << b.Location() << ": Mac must be 32 bytes";
    }
  }
  // Truncated returns the leading bytes of `mac` that the vector gives, as hex.
  std::string Truncated(const Mac& mac) const { return Hex(mac).substr(0, mac_hex_.size()); }

  std::string key_, data_, mac_hex_;
};

TEST_P(HmacRfc4231Test, FromBytes) {
  EXPECT_EQ(Truncated(HmacKey::FromBytes(Bytes(key_)).Sign(Bytes(data_))), mac_hex_);
}

TEST_P(HmacRfc4231Test, FromSecret) {
  const SecretBytes secret = SecretBytes::CopyFrom(Bytes(key_));
  EXPECT_EQ(Truncated(HmacKey::FromSecret(secret).Sign(Bytes(data_))), mac_hex_);
}

TEST_P(HmacRfc4231Test, OracleAgreesWithFile) {
  EXPECT_EQ(Truncated(crypto::OracleHmacSha256(Bytes(key_), Bytes(data_))), mac_hex_);
}

INSTANTIATE_TEST_SUITE_P(Rfc4231, HmacRfc4231Test, ::testing::ValuesIn(LoadTestVectors(kFile)),
                         [](const ::testing::TestParamInfo<VectorBlock>& test) {
                           return absl::StrCat("Case", test.param.GetOr("Case", "X"), "_",
                                               testing::BlockTestName(test.param));
                         });

TEST(HmacSha256Test, KeyLengthsZeroTo200MatchOracle) {
  // Covers empty keys, keys shorter than a block, exactly 64 bytes, and longer keys (hashed first).
  for (size_t key_len = 0; key_len <= 200; ++key_len) {
    const std::string key = PatternBytes(key_len, static_cast<uint8_t>(key_len));
    const HmacKey hk = HmacKey::FromBytes(Bytes(key));
    for (size_t msg_len : {0, 1, 32, 55, 56, 63, 64, 65, 119, 120, 200}) {
      const std::string msg = PatternBytes(msg_len, 0x5a);
      ASSERT_EQ(Hex(hk.Sign(Bytes(msg))), Hex(crypto::OracleHmacSha256(Bytes(key), Bytes(msg))))
          << "key_len=" << key_len << " msg_len=" << msg_len;
    }
  }
}

TEST(HmacSha256Test, LongKeyIsHashedFirst) {
  // RFC 2104 §2: a key longer than the block is replaced by its hash.
  for (size_t key_len : {65, 100, 131, 200}) {
    const std::string key = PatternBytes(key_len, 1);
    const Sha256Digest hashed = Sha256::Hash(Bytes(key));
    EXPECT_EQ(Hex(HmacKey::FromBytes(Bytes(key)).Sign(Bytes("m"))),
              Hex(HmacKey::FromBytes(hashed).Sign(Bytes("m"))))
        << key_len;
  }
  // A 64-byte key is used as is, not hashed.
  const std::string key64 = PatternBytes(64, 2);
  EXPECT_NE(Hex(HmacKey::FromBytes(Bytes(key64)).Sign(Bytes("m"))),
            Hex(HmacKey::FromBytes(Sha256::Hash(Bytes(key64))).Sign(Bytes("m"))));
}

TEST(HmacSha256Test, ShortKeyIsZeroPadded) {
  // K0 is the key zero-padded to 64 bytes, so trailing zero bytes up to 64 change nothing.
  const std::string key = PatternBytes(20, 3);
  std::string padded = key;
  padded.resize(64, '\0');
  EXPECT_EQ(Hex(HmacKey::FromBytes(Bytes(key)).Sign(Bytes("msg"))),
            Hex(HmacKey::FromBytes(Bytes(padded)).Sign(Bytes("msg"))));
}

TEST(HmacSha256Test, DefaultKeyIsTheEmptyKey) {
  const std::string msg = "message";
  EXPECT_EQ(Hex(HmacKey().Sign(Bytes(msg))), Hex(crypto::OracleHmacSha256({}, Bytes(msg))));
  EXPECT_EQ(Hex(HmacKey().Sign(Bytes(msg))), Hex(HmacKey::FromBytes({}).Sign(Bytes(msg))));
}

TEST(HmacSha256Test, CopiesSignTheSame) {
  const HmacKey a = HmacKey::FromBytes(Bytes("key one"));
  HmacKey b;  // empty key
  const HmacKey c = a;
  EXPECT_NE(Hex(a.Sign(Bytes("x"))), Hex(b.Sign(Bytes("x"))));
  b = a;
  EXPECT_EQ(Hex(a.Sign(Bytes("x"))), Hex(b.Sign(Bytes("x"))));
  EXPECT_EQ(Hex(a.Sign(Bytes("x"))), Hex(c.Sign(Bytes("x"))));
}

TEST(HmacSha256Test, MidstatesArePadBlocks) {
  const std::string key = PatternBytes(32, 4);
  const HmacKey hk = HmacKey::FromBytes(Bytes(key));
  uint8_t ipad[kSha256BlockSize], opad[kSha256BlockSize];
  for (size_t i = 0; i < kSha256BlockSize; ++i) {
    const uint8_t k = i < key.size() ? static_cast<uint8_t>(key[i]) : 0;
    ipad[i] = k ^ 0x36;
    opad[i] = k ^ 0x5c;
  }
  Sha256State inner = kSha256InitialState, outer = kSha256InitialState;
  Sha256CompressBlocks(inner, ipad, 1);
  Sha256CompressBlocks(outer, opad, 1);
  EXPECT_EQ(hk.inner_state(SecretKeyAccess::Get()), inner);
  EXPECT_EQ(hk.outer_state(SecretKeyAccess::Get()), outer);
}

TEST(HmacSha256Test, FinishOuterCompletesAnInnerHash) {
  const HmacKey hk = HmacKey::FromBytes(Bytes("finish-outer key"));
  for (size_t n : {0, 10, 55, 64, 150}) {
    const std::string msg = PatternBytes(n, 5);
    Sha256 inner(hk.inner_state(SecretKeyAccess::Get()), kSha256BlockSize);
    inner.Update(Bytes(msg));
    EXPECT_EQ(Hex(HmacFinishOuter(hk, inner.Final())), Hex(hk.Sign(Bytes(msg)))) << n;
  }
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!(absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f')))
      return false;
  }
  return true;
}

TEST(HmacKeyFingerprintTest, IsSixteenLowercaseHexCharacters) {
  for (size_t n : {0, 16, 32, 64, 100}) {
    const std::string fp = HmacKey::FromBytes(Bytes(PatternBytes(n, 6))).Fingerprint();
    EXPECT_EQ(fp.size(), 16u) << fp;
    EXPECT_TRUE(IsLowerHex(fp)) << fp;
  }
}

TEST(HmacKeyFingerprintTest, IsStableAndDocumented) {
  const std::string key = PatternBytes(32, 7);
  const HmacKey a = HmacKey::FromBytes(Bytes(key));
  const HmacKey b = HmacKey::FromSecret(SecretBytes::CopyFrom(Bytes(key)));
  const HmacKey c = a;
  EXPECT_EQ(a.Fingerprint(), a.Fingerprint());
  EXPECT_EQ(a.Fingerprint(), b.Fingerprint());
  EXPECT_EQ(a.Fingerprint(), c.Fingerprint());
  // The header's definition: first 8 bytes of HMAC-SHA256(key, "sasmint key fingerprint v1").
  const Mac want = crypto::OracleHmacSha256(Bytes(key), Bytes("sasmint key fingerprint v1"));
  EXPECT_EQ(a.Fingerprint(), Hex(want).substr(0, 16));
}

TEST(HmacKeyFingerprintTest, DiffersAcrossKeys) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = absl::StrCat("device-key-", i);
    EXPECT_TRUE(seen.insert(HmacKey::FromBytes(Bytes(key)).Fingerprint()).second) << key;
  }
  // Keys that differ in one bit of the last byte.
  std::string k1 = PatternBytes(32, 8), k2 = k1;
  k2.back() ^= 1;
  EXPECT_NE(HmacKey::FromBytes(Bytes(k1)).Fingerprint(),
            HmacKey::FromBytes(Bytes(k2)).Fingerprint());
  EXPECT_NE(HmacKey().Fingerprint(), HmacKey::FromBytes(Bytes(k1)).Fingerprint());
}

TEST(HmacKeyFingerprintTest, DoesNotContainKeyBytes) {
  // A key made only of hex digits could appear verbatim in a careless fingerprint.
  const std::string hex_key = "0123456789abcdef0123456789abcdef";
  const std::string fp = HmacKey::FromBytes(Bytes(hex_key)).Fingerprint();
  for (size_t i = 0; i + 6 <= hex_key.size(); ++i) {
    EXPECT_THAT(fp, Not(HasSubstr(hex_key.substr(i, 6))));
  }
  // Nor the hex of any 3 consecutive key bytes, for keys of several lengths.
  for (size_t n : {16, 32, 64, 80}) {
    const std::string key = PatternBytes(n, 9);
    const std::string key_hex = Hex(Bytes(key));
    const std::string kfp = HmacKey::FromBytes(Bytes(key)).Fingerprint();
    for (size_t i = 0; i + 6 <= key_hex.size(); i += 2) {
      EXPECT_THAT(kfp, Not(HasSubstr(key_hex.substr(i, 6)))) << "key length " << n;
    }
    // Nor a prefix of the plain SHA-256 of the key: the fingerprint is a MAC under the key.
    EXPECT_NE(kfp, Hex(crypto::OracleSha256(Bytes(key))).substr(0, 16));
  }
}

}  // namespace
}  // namespace sasmint
