#include "signer/sha256.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::LoadTestVectors;
using ::sasmint::testing::ReadVectorFile;
using ::sasmint::testing::TestDataPath;
using ::sasmint::testing::TestSeed;
using ::sasmint::testing::VectorBlock;

constexpr char kFile[] = "sha256_nist.txt";

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Hex(absl::Span<const uint8_t> b) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

struct Sha256Vector {
  std::string message;
  std::string digest_hex;
};

// DecodeVector turns a block of sha256_nist.txt into a message and its expected digest.
absl::StatusOr<Sha256Vector> DecodeVector(const VectorBlock& b) {
  if (absl::Status s = b.ExpectFields({"Len", "MD"}, {"Msg", "Message", "Repeat"}); !s.ok())
    return s;
  if (b.Has("Msg") == b.Has("Message")) {
    return absl::InvalidArgumentError(
        absl::StrCat(b.Location(), ": need exactly one of Msg, Message"));
  }
  absl::StatusOr<int64_t> len_bits = b.GetInt("Len");
  if (!len_bits.ok()) return len_bits.status();
  std::string unit;
  if (b.Has("Msg")) {
    absl::StatusOr<std::string> bytes = b.GetBytes("Msg");
    if (!bytes.ok()) return bytes.status();
    unit = *std::move(bytes);
    // CAVP writes the empty message as "Msg = 00" with "Len = 0".
    if (*len_bits == 0) unit.clear();
  } else {
    unit = *b.Get("Message");
  }
  int64_t repeat = 1;
  if (b.Has("Repeat")) {
    absl::StatusOr<int64_t> r = b.GetInt("Repeat");
    if (!r.ok()) return r.status();
    repeat = *r;
  }
  Sha256Vector v;
  v.message.reserve(unit.size() * repeat);
  for (int64_t i = 0; i < repeat; ++i) v.message += unit;
  if (static_cast<int64_t>(v.message.size()) * 8 != *len_bits) {
    return absl::InvalidArgumentError(absl::StrCat(
        b.Location(), ": Len = ", *len_bits, " but the message has ", v.message.size(), " bytes"));
  }
  v.digest_hex = *b.Get("MD");
  if (v.digest_hex.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(b.Location(), ": MD is not 32 bytes of hex"));
  }
  return v;
}

// HashInChunks hashes `message` with Update calls of random sizes in [0, max_chunk] (zero-length
// updates included: they must be no-ops).
Sha256Digest HashInChunks(absl::Span<const uint8_t> message, std::mt19937_64& rng,
                          size_t max_chunk) {
  Sha256 h;
  size_t pos = 0;
  while (pos < message.size()) {
    const size_t n = std::min<size_t>(rng() % (max_chunk + 1), message.size() - pos);
    h.Update(message.subspan(pos, n));
    pos += n;
  }
  return h.Final();
}

TEST(Sha256VectorFileTest, FileParsesAndCoversThePaddingEdges) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ReadVectorFile(TestDataPath(kFile)));
  ASSERT_GE(blocks.size(), 30u);
  std::set<size_t> lengths;
  for (const VectorBlock& b : blocks) {
    ASSERT_OK_AND_ASSIGN(Sha256Vector v, DecodeVector(b));
    lengths.insert(v.message.size());
  }
  // One-block/two-block padding boundaries, and the FIPS long message.
  for (size_t n : {0, 3, 55, 56, 63, 64, 65, 119, 120, 130, 1000000}) {
    EXPECT_TRUE(lengths.count(n)) << kFile << " has no message of " << n << " bytes";
  }
}

class Sha256KnownAnswerTest : public ::testing::TestWithParam<VectorBlock> {
 protected:
  void SetUp() override {
    absl::StatusOr<Sha256Vector> v = DecodeVector(GetParam());
    ASSERT_OK(v);
    vector_ = *std::move(v);
  }
  Sha256Vector vector_;
};

TEST_P(Sha256KnownAnswerTest, OneShot) {
  EXPECT_EQ(Hex(Sha256::Hash(Bytes(vector_.message))), vector_.digest_hex) << GetParam().source;
  // The crypto library agrees, so a typo in the file fails here rather than passing unnoticed.
  EXPECT_EQ(Hex(crypto::OracleSha256(Bytes(vector_.message))), vector_.digest_hex);
}

TEST_P(Sha256KnownAnswerTest, IncrementalRandomChunks) {
  const uint64_t seed = TestSeed();
  std::mt19937_64 rng(seed ^ GetParam().line);
  const auto msg = Bytes(vector_.message);
  for (size_t max_chunk : {1, 3, 63, 64, 65, 200, 5000}) {
    if (msg.size() > 100000 && max_chunk < 64) continue;  // keep the million-byte case quick
    EXPECT_EQ(Hex(HashInChunks(msg, rng, max_chunk)), vector_.digest_hex)
        << "seed=" << seed << " max_chunk=" << max_chunk;
  }
}

TEST_P(Sha256KnownAnswerTest, EverySplitPoint) {
  const auto msg = Bytes(vector_.message);
  if (msg.size() > 300) GTEST_SKIP() << "split points are checked on short messages only";
  for (size_t i = 0; i <= msg.size(); ++i) {
    Sha256 h;
    h.Update(msg.first(i));
    h.Update(msg.subspan(i));
    ASSERT_EQ(Hex(h.Final()), vector_.digest_hex) << "split at " << i;
  }
}

TEST_P(Sha256KnownAnswerTest, ResumeFromMidstate) {
  const auto msg = Bytes(vector_.message);
  const size_t whole_blocks = msg.size() / kSha256BlockSize;
  std::vector<size_t> ks;
  for (size_t k = 0; k <= std::min<size_t>(whole_blocks, 3); ++k) ks.push_back(k);
  if (whole_blocks > 3) ks.push_back(whole_blocks);
  for (size_t k : ks) {
    Sha256State state = kSha256InitialState;
    Sha256CompressBlocks(state, msg.data(), k);
    Sha256 h(state, k * kSha256BlockSize);
    h.Update(msg.subspan(k * kSha256BlockSize));
    EXPECT_EQ(Hex(h.Final()), vector_.digest_hex) << "resumed after " << k << " blocks";
  }
}

INSTANTIATE_TEST_SUITE_P(Nist, Sha256KnownAnswerTest, ::testing::ValuesIn(LoadTestVectors(kFile)),
                         [](const ::testing::TestParamInfo<VectorBlock>& test) {
                           return testing::BlockTestName(test.param);
                         });

std::string PatternMessage(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

TEST(Sha256Test, MatchesOracleAtEveryLengthUpTo300) {
  for (size_t n = 0; n <= 300; ++n) {
    const std::string m = PatternMessage(n);
    const std::string want = Hex(crypto::OracleSha256(Bytes(m)));
    ASSERT_EQ(Hex(Sha256::Hash(Bytes(m))), want) << "length " << n;
    Sha256 bytewise;
    for (size_t i = 0; i < n; ++i) bytewise.Update(Bytes(m).subspan(i, 1));
    ASSERT_EQ(Hex(bytewise.Final()), want) << "byte-at-a-time, length " << n;
  }
}

TEST(Sha256Test, EmptyUpdatesChangeNothing) {
  Sha256 h;
  h.Update({});
  h.Update(absl::Span<const uint8_t>(nullptr, 0));
  EXPECT_EQ(Hex(h.Final()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, CompressManyBlocksEqualsOneAtATime) {
  const std::string m = PatternMessage(5 * kSha256BlockSize);
  Sha256State all = kSha256InitialState;
  Sha256CompressBlocks(all, Bytes(m).data(), 5);
  Sha256State one = kSha256InitialState;
  for (size_t i = 0; i < 5; ++i)
    Sha256CompressBlocks(one, Bytes(m).data() + i * kSha256BlockSize, 1);
  EXPECT_EQ(all, one);
  EXPECT_NE(all, kSha256InitialState);
  Sha256State none = kSha256InitialState;
  Sha256CompressBlocks(none, Bytes(m).data(), 0);
  EXPECT_EQ(none, kSha256InitialState);
}

TEST(Sha256Test, StateToDigestIsBigEndian) {
  const Sha256Digest d = Sha256StateToDigest(kSha256InitialState);
  EXPECT_EQ(Hex(d), "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19");
}

TEST(Sha256Test, MidstateConstructorCountsBytesBefore) {
  // The length in the final padding includes bytes_before: resuming the initial state with a
  // claimed 64 bytes before gives a different digest from a fresh hash of the same input.
  const std::string m = "abc";
  Sha256 fresh_equivalent(kSha256InitialState, 0);
  fresh_equivalent.Update(Bytes(m));
  EXPECT_EQ(Hex(fresh_equivalent.Final()), Hex(Sha256::Hash(Bytes(m))));
  Sha256 claimed(kSha256InitialState, 64);
  claimed.Update(Bytes(m));
  EXPECT_NE(Hex(claimed.Final()), Hex(Sha256::Hash(Bytes(m))));
}

TEST(Sha256Test, CopiesHashIndependently) {
  const std::string a = PatternMessage(100);
  Sha256 h;
  h.Update(Bytes(a).first(70));
  Sha256 copy = h;
  h.Update(Bytes(a).subspan(70));
  copy.Update(Bytes(a).subspan(70));
  EXPECT_EQ(Hex(h.Final()), Hex(copy.Final()));

  Sha256 h2;
  h2.Update(Bytes(a).first(70));
  Sha256 diverged = h2;
  diverged.Update(Bytes(a).first(1));
  EXPECT_NE(Hex(h2.Final()), Hex(diverged.Final()));
}

}  // namespace
}  // namespace sasmint
