#include "signer/crypto_backend.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/vector_file.h"

namespace sasmint::crypto {
namespace {

using ::sasmint::testing::LoadTestVectors;
using ::sasmint::testing::ReadVectorFile;
using ::sasmint::testing::StatusIs;
using ::sasmint::testing::TestDataPath;
using ::sasmint::testing::VectorBlock;
using ::testing::_;

constexpr char kFile[] = "aes256_gcm.txt";

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(Aes256GcmFileTest, HasTheAes256Cases) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ReadVectorFile(TestDataPath(kFile)));
  std::set<int64_t> cases;
  for (const VectorBlock& b : blocks) {
    ASSERT_OK_AND_ASSIGN(int64_t c, b.GetInt("Case"));
    cases.insert(c);
  }
  EXPECT_EQ(cases, (std::set<int64_t>{13, 14, 15, 16}));
}

class Aes256GcmTest : public ::testing::TestWithParam<VectorBlock> {};

TEST_P(Aes256GcmTest, SealsAndOpensTheKnownAnswer) {
  const VectorBlock& b = GetParam();
  ASSERT_OK(b.ExpectFields({"Case", "Key", "Nonce", "Aad", "Plaintext", "Ciphertext", "Tag"}));
  ASSERT_OK_AND_ASSIGN(std::string key, b.GetBytes("Key"));
  ASSERT_OK_AND_ASSIGN(std::string nonce, b.GetBytes("Nonce"));
  ASSERT_OK_AND_ASSIGN(std::string aad, b.GetBytes("Aad"));
  ASSERT_OK_AND_ASSIGN(std::string plain, b.GetBytes("Plaintext"));
  ASSERT_OK_AND_ASSIGN(std::string cipher, b.GetBytes("Ciphertext"));
  ASSERT_OK_AND_ASSIGN(std::string tag, b.GetBytes("Tag"));

  ASSERT_OK_AND_ASSIGN(std::string sealed, Aes256GcmSeal(Bytes(key), Bytes(nonce), aad, plain));
  EXPECT_EQ(sealed, cipher + tag);
  std::string opened = "stale";
  ASSERT_OK(Aes256GcmOpen(Bytes(key), Bytes(nonce), aad, sealed, &opened));
  EXPECT_EQ(opened, plain);
}

TEST_P(Aes256GcmTest, RefusesAnyAlteration) {
  const VectorBlock& b = GetParam();
  ASSERT_OK_AND_ASSIGN(std::string key, b.GetBytes("Key"));
  ASSERT_OK_AND_ASSIGN(std::string nonce, b.GetBytes("Nonce"));
  ASSERT_OK_AND_ASSIGN(std::string aad, b.GetBytes("Aad"));
  ASSERT_OK_AND_ASSIGN(std::string cipher, b.GetBytes("Ciphertext"));
  ASSERT_OK_AND_ASSIGN(std::string tag, b.GetBytes("Tag"));
  const std::string sealed = cipher + tag;
  std::string out;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_THAT(Aes256GcmOpen(Bytes(key), Bytes(nonce), aad, bad, &out),
                StatusIs(absl::StatusCode::kDataLoss, _))
        << "byte " << i;
    EXPECT_TRUE(out.empty());
  }
  std::string other_key = key;
  other_key[0] ^= 0x80;
  EXPECT_THAT(Aes256GcmOpen(Bytes(other_key), Bytes(nonce), aad, sealed, &out),
              StatusIs(absl::StatusCode::kDataLoss, _));
  EXPECT_THAT(Aes256GcmOpen(Bytes(key), Bytes(nonce), aad + "x", sealed, &out),
              StatusIs(absl::StatusCode::kDataLoss, _));
  EXPECT_THAT(Aes256GcmOpen(Bytes(key), Bytes(nonce), aad, sealed.substr(1), &out),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

INSTANTIATE_TEST_SUITE_P(McGrewViega, Aes256GcmTest, ::testing::ValuesIn(LoadTestVectors(kFile)));

TEST(Aes256GcmTest, RejectsWrongSizesAndShortInput) {
  const std::string key(32, 'k'), nonce(12, 'n');
  EXPECT_THAT(Aes256GcmSeal(Bytes(key.substr(1)), Bytes(nonce), "", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(Aes256GcmSeal(Bytes(key), Bytes(nonce.substr(1)), "", "x"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  std::string out;
  EXPECT_THAT(Aes256GcmOpen(Bytes(key), Bytes(nonce), "", std::string(15, 'x'), &out),
              StatusIs(absl::StatusCode::kDataLoss, _));
}

}  // namespace
}  // namespace sasmint::crypto
