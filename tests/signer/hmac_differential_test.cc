// Randomized differential tests: the portable SHA-256 / HMAC-SHA256 against the crypto library.
// The seed is printed (SASMINT_TEST_SEED=...) and included in every failure message; set
// SASMINT_TEST_SEED to replay a run.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "signer/hmac_sha256.h"
#include "signer/secret_bytes.h"
#include "signer/sha256.h"
#include "tests/testing/test_seed.h"

namespace sasmint {
namespace {

using ::sasmint::testing::RandomBytes;
using ::sasmint::testing::TestSeed;

constexpr int kHmacCases = 100000;
constexpr size_t kMaxKeyLen = 200;
constexpr size_t kMaxMessageLen = 300;
constexpr int kMaxReportedFailures = 10;

std::string Hex(absl::Span<const uint8_t> b) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

// Case describes one random case so that a failure says how to find it again.
std::string Case(uint64_t seed, int i, size_t key_len, size_t msg_len) {
  return absl::StrCat("SASMINT_TEST_SEED=", seed, " case=", i, " key_len=", key_len,
                      " msg_len=", msg_len);
}

TEST(HmacDifferentialTest, PortableMatchesOracle) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed);
  int failures = 0;
  for (int i = 0; i < kHmacCases && failures < kMaxReportedFailures; ++i) {
    const size_t key_len = rng() % (kMaxKeyLen + 1);
    const size_t msg_len = rng() % (kMaxMessageLen + 1);
    const std::vector<uint8_t> key = RandomBytes(rng, key_len);
    const std::vector<uint8_t> msg = RandomBytes(rng, msg_len);
    const Mac want = crypto::OracleHmacSha256(key, msg);
    // Alternate the two ways of making a key; both must agree with the oracle.
    const HmacKey hk =
        (i % 2 == 0) ? HmacKey::FromBytes(key) : HmacKey::FromSecret(SecretBytes::CopyFrom(key));
    const Mac got = hk.Sign(msg);
    if (got != want) {
      ++failures;
      ADD_FAILURE() << Case(seed, i, key_len, msg_len) << "\n  key=" << Hex(key)
                    << "\n  msg=" << Hex(msg) << "\n  got=" << Hex(got) << "\n want=" << Hex(want);
    }
  }
  EXPECT_EQ(failures, 0) << "SASMINT_TEST_SEED=" << seed;
}

TEST(HmacDifferentialTest, OneKeyManyMessages) {
  // A key signs many messages: its midstates must not be disturbed by signing.
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed + 1);
  for (int k = 0; k < 50; ++k) {
    const std::vector<uint8_t> key = RandomBytes(rng, rng() % (kMaxKeyLen + 1));
    const HmacKey hk = HmacKey::FromBytes(key);
    for (int m = 0; m < 100; ++m) {
      const std::vector<uint8_t> msg = RandomBytes(rng, rng() % (kMaxMessageLen + 1));
      ASSERT_EQ(Hex(hk.Sign(msg)), Hex(crypto::OracleHmacSha256(key, msg)))
          << Case(seed, k * 100 + m, key.size(), msg.size());
    }
  }
}

TEST(Sha256DifferentialTest, PortableMatchesOracle) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed + 2);
  int failures = 0;
  for (int i = 0; i < 20000 && failures < kMaxReportedFailures; ++i) {
    const size_t len = rng() % 1025;
    const std::vector<uint8_t> msg = RandomBytes(rng, len);
    const std::string want = Hex(crypto::OracleSha256(msg));
    const std::string one_shot = Hex(Sha256::Hash(msg));
    // The same message fed in random pieces.
    Sha256 h;
    for (size_t pos = 0; pos < len;) {
      const size_t n = std::min<size_t>(rng() % 150, len - pos);
      h.Update(absl::MakeConstSpan(msg).subspan(pos, n));
      pos += n;
    }
    const std::string pieces = Hex(h.Final());
    if (one_shot != want || pieces != want) {
      ++failures;
      ADD_FAILURE() << "SASMINT_TEST_SEED=" << seed << " case=" << i << " len=" << len
                    << "\n  msg=" << Hex(msg) << "\n  one-shot=" << one_shot
                    << "\n  pieces=" << pieces << "\n  want=" << want;
    }
  }
  EXPECT_EQ(failures, 0) << "SASMINT_TEST_SEED=" << seed;
}

}  // namespace
}  // namespace sasmint
