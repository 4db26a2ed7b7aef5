#include "service/etcd/sealed_value.h"

#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sasmint/adminstore/v1/records.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint {
namespace {

using ::sasmint::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Not;

// Two fixed keys (base64 of 32 bytes) and a canary plaintext.
constexpr char kKeyA[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kKeyB[] = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
constexpr char kCanary[] = "canary-midstate-bytes-0123456789";

KeyEncryptionKey Key(const char* b64) { return *KeyEncryptionKey::FromBase64(b64, "test"); }

std::string Text(const SecretBytes& b) {
  const auto v = b.Reveal(SecretKeyAccess::Get());
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

TEST(KeyEncryptionKeyTest, ReadsBase64Of32BytesAndHasAStableSafeId) {
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/kek", std::string(kKeyA) + "\n");
  ASSERT_OK_AND_ASSIGN(KeyEncryptionKey a, KeyEncryptionKey::FromFile(dir + "/kek"));
  EXPECT_EQ(a.id().size(), 16u);
  EXPECT_EQ(a.id(), Key(kKeyA).id());
  EXPECT_NE(a.id(), Key(kKeyB).id());
  EXPECT_THAT(a.id(), Not(HasSubstr("AAEC")));

  EXPECT_THAT(KeyEncryptionKey::FromFile(dir + "/missing"),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(KeyEncryptionKey::FromBase64("AAECAwQFBgcICQoLDA0ODw==", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 random bytes")));
  EXPECT_THAT(KeyEncryptionKey::FromBase64("not base64!", "f"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
}

TEST(SealedValueTest, RoundTripsAndNeverHoldsThePlaintext) {
  KeyRing ring{Key(kKeyA), std::nullopt};
  ASSERT_OK_AND_ASSIGN(std::string a, SealValue(ring.current, "/p/v1/data/x/0", kCanary));
  ASSERT_OK_AND_ASSIGN(std::string b, SealValue(ring.current, "/p/v1/data/x/0", kCanary));
  EXPECT_NE(a, b);  // fresh nonce each time
  EXPECT_FALSE(absl::StrContains(a, kCanary));
  ASSERT_OK_AND_ASSIGN(OpenedValue opened, OpenValue(ring, "/p/v1/data/x/0", a));
  EXPECT_EQ(Text(opened.plaintext), kCanary);
  EXPECT_EQ(opened.kek_id, ring.current.id());
}

TEST(SealedValueTest, RefusesMovedAlteredForeignAndUnknownKeyValues) {
  KeyRing ring{Key(kKeyA), std::nullopt};
  ASSERT_OK_AND_ASSIGN(std::string v, SealValue(ring.current, "/p/v1/data/x/0", kCanary));
  EXPECT_THAT(OpenValue(ring, "/p/v1/data/x/1", v),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("/p/v1/data/x/1")));
  adminstore::v1::SealedValue parsed;
  ASSERT_TRUE(parsed.ParseFromString(v));
  parsed.mutable_sealed()->back() ^= 1;
  EXPECT_THAT(OpenValue(ring, "/p/v1/data/x/0", parsed.SerializeAsString()),
              StatusIs(absl::StatusCode::kDataLoss, _));
  EXPECT_THAT(OpenValue(ring, "/p/v1/data/x/0", v.substr(0, v.size() / 2)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a sealed")));
  EXPECT_THAT(OpenValue(ring, "/p/v1/data/x/0", "{\"json\": true}"),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  KeyRing other{Key(kKeyB), std::nullopt};
  absl::StatusOr<OpenedValue> wrong = OpenValue(other, "/p/v1/data/x/0", v);
  EXPECT_THAT(wrong, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(ring.current.id())));
  EXPECT_THAT(std::string(wrong.status().message()), Not(HasSubstr(kKeyA)));
}

TEST(SealedValueTest, APreviousKeyStillOpensDuringRotation) {
  KeyRing old_ring{Key(kKeyA), std::nullopt};
  ASSERT_OK_AND_ASSIGN(std::string v, SealValue(old_ring.current, "/p/k", kCanary));
  KeyRing rotating{Key(kKeyB), Key(kKeyA)};
  ASSERT_OK_AND_ASSIGN(OpenedValue opened, OpenValue(rotating, "/p/k", v));
  EXPECT_EQ(opened.kek_id, rotating.previous->id());
  EXPECT_EQ(Text(opened.plaintext), kCanary);
}

}  // namespace
}  // namespace sasmint
