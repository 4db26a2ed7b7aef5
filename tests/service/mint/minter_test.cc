#include "service/mint/minter.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/export_loader.h"
#include "signer/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr const char* kPrimary = testing::kTestKey;
constexpr const char* kSecondary = testing::kTestKey2;
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

class MinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string text = absl::StrCat(
        testing::ExportLine("dev1", "", kPrimary, kSecondary),
        testing::ExportLine("dev1", "mod", kSecondary),
        testing::ExportLine("off", "", kPrimary, "", "disabled"),
        R"({"id":"cert","authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"AA"}}})",
        "\n");
    ASSERT_THAT(LoadExportText(text, "f", kHub, &table_), IsOk());
  }

  static std::string Expected(const TokenScope& scope, const char* key, int64_t expiry) {
    auto secret = DecodeBase64Key(key);
    EXPECT_THAT(secret, IsOk());
    auto token = BuildToken(scope, HmacKey::FromSecret(*secret), expiry);
    EXPECT_THAT(token, IsOk());
    return *token;
  }

  IdentityTable table_;
  Minter minter_{MintOptions{}, *BatchSigner::Best()};
};

TEST_F(MinterTest, DeviceTokenMatchesSignerByteForByte) {
  MintRequest request{TokenScope::Device(kHub, "dev1"), 0, KeySlot::kActive};
  ASSERT_OK_AND_ASSIGN(MintedToken t, minter_.Mint(table_, request, kNow));
  EXPECT_EQ(t.server_time, 1700000000);
  EXPECT_EQ(t.expires_at, 1700000000 + 3600);
  EXPECT_EQ(t.token, Expected(TokenScope::Device(kHub, "dev1"), kPrimary, t.expires_at));
  EXPECT_EQ(t.key_slot, KeySlot::kPrimary);
}

TEST_F(MinterTest, SecondarySlotAndModules) {
  MintRequest request{TokenScope::Device(kHub, "dev1"), 600, KeySlot::kSecondary};
  ASSERT_OK_AND_ASSIGN(MintedToken t, minter_.Mint(table_, request, kNow));
  EXPECT_EQ(t.token, Expected(TokenScope::Device(kHub, "dev1"), kSecondary,
                              absl::ToUnixSeconds(kNow) + 600));
  EXPECT_EQ(t.key_slot, KeySlot::kSecondary);

  MintRequest module{TokenScope::Module(kHub, "dev1", "mod"), 600, KeySlot::kPrimary};
  ASSERT_OK_AND_ASSIGN(MintedToken m, minter_.Mint(table_, module, kNow));
  EXPECT_EQ(m.token, Expected(TokenScope::Module(kHub, "dev1", "mod"), kSecondary,
                              absl::ToUnixSeconds(kNow) + 600));
  module.key_slot = KeySlot::kSecondary;
  EXPECT_THAT(minter_.Mint(table_, module, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no secondary key")));
}

TEST_F(MinterTest, TtlDefaultsCapsAndMinimum) {
  MintRequest request{TokenScope::Device(kHub, "dev1"), 10 * 86400, KeySlot::kActive};
  ASSERT_OK_AND_ASSIGN(MintedToken capped, minter_.Mint(table_, request, kNow));
  EXPECT_EQ(capped.expires_at - capped.server_time, 86400);
  request.ttl_seconds = 59;
  EXPECT_THAT(minter_.Mint(table_, request, kNow),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("below the minimum")));
}

TEST_F(MinterTest, RenewAfterIsJitteredInsideTheWindowAndDeterministic) {
  int64_t min_offset = INT64_MAX, max_offset = 0;
  for (int i = 0; i < 2000; ++i) {
    const absl::Time now = kNow + absl::Seconds(i);
    MintRequest request{TokenScope::Device(kHub, "dev1"), 3600, KeySlot::kActive};
    ASSERT_OK_AND_ASSIGN(MintedToken t, minter_.Mint(table_, request, now));
    const int64_t offset = t.renew_after - t.server_time;
    EXPECT_GE(offset, 2520);  // 70 % of 3600
    EXPECT_LE(offset, 3060);  // 85 % of 3600
    min_offset = std::min(min_offset, offset);
    max_offset = std::max(max_offset, offset);
    ASSERT_OK_AND_ASSIGN(MintedToken again, minter_.Mint(table_, request, now));
    EXPECT_EQ(again.renew_after, t.renew_after);
  }
  // Jitter spreads over most of the window rather than clustering.
  EXPECT_LT(min_offset, 2560);
  EXPECT_GT(max_offset, 3020);
}

TEST_F(MinterTest, StatusCodes) {
  const auto mint = [&](TokenScope scope) {
    return minter_.Mint(table_, MintRequest{std::move(scope), 0, KeySlot::kActive}, kNow);
  };
  EXPECT_THAT(mint(TokenScope::Device(kHub, "ghost")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'ghost' is not registered")));
  EXPECT_THAT(mint(TokenScope::Device("other.azure-devices.net", "dev1")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("is not served")));
  EXPECT_THAT(mint(TokenScope::Module(kHub, "dev1", "ghost")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("module 'ghost'")));
  EXPECT_THAT(mint(TokenScope::Device(kHub, "off")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("disabled")));
  EXPECT_THAT(mint(TokenScope::Device(kHub, "cert")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("selfSigned")));
  EXPECT_THAT(mint(TokenScope::Device(kHub, "bad id")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("device ID")));
  EXPECT_THAT(mint(TokenScope::Device(kHub, "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(mint(TokenScope::Policy(kHub, "iothubowner")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("policy 'iothubowner' is not")));
  EXPECT_THAT(mint(TokenScope::Registration("0ne00000001", "reg")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ID scope '0ne00000001'")));
}

TEST(MintOptionsTest, Validation) {
  EXPECT_THAT(ValidateMintOptions(MintOptions{}), IsOk());
  MintOptions bad;
  bad.renew_window_start = 0.9;
  EXPECT_THAT(ValidateMintOptions(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("renew")));
  bad = MintOptions{};
  bad.max_ttl_seconds = 100;
  EXPECT_THAT(ValidateMintOptions(bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TTL")));
}

}  // namespace
}  // namespace sasmint
