// BatchMinter: every item of a batch comes out as Minter would mint it alone (the same token,
// byte for byte, or the same error), in order, whatever the mix of scopes, failures and
// authorizations, and however the pipeline's look-ahead lines up with the batch.
#include "service/mint/batch_minter.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/export_loader.h"
#include "signer/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_identities.h"
#include "tests/testing/test_seed.h"

namespace sasmint {
namespace {

using ::sasmint::testing::kTestHub;
using ::sasmint::testing::kTestKey;
using ::sasmint::testing::kTestKey2;
using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kOtherHub[] = "other.azure-devices.net";
constexpr char kIdScope[] = "0ne00000001";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

StoredKey Stored(const char* base64) {
  absl::StatusOr<SecretBytes> key = DecodeBase64Key(base64);
  EXPECT_TRUE(key.ok());
  StoredKey stored{HmacKey::FromSecret(*key), {}};
  stored.fingerprint = stored.hmac.Fingerprint();
  return stored;
}

// Request is an item together with the strings it borrows.
struct Request {
  TokenScope scope;
  uint32_t ttl = 0;
  KeySlot slot = KeySlot::kActive;
};

MintItem ItemOf(const Request& r) {
  MintItem item;
  item.kind = r.scope.kind;
  item.hub = r.scope.hub;
  item.device_id = r.scope.device_id;
  item.module_id = r.scope.module_id;
  item.policy = r.scope.policy;
  item.resource = r.scope.resource;
  item.id_scope = r.scope.id_scope;
  item.registration_id = r.scope.registration_id;
  item.ttl_seconds = r.ttl;
  item.key_slot = r.slot;
  return item;
}

class BatchMinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    for (int i = 0; i < 64; ++i) {
      text +=
          testing::ExportLine(absl::StrCat("dev", i), "", i % 2 ? kTestKey : kTestKey2, kTestKey);
    }
    text += testing::ExportLine("dev0", "mod", kTestKey2);
    text += testing::ExportLine("off", "", kTestKey, "", "disabled");
    ASSERT_THAT(table_.AddHub(kTestHub, HubSettings{}), testing::IsOk());
    PolicyEntry policy{"service", kServiceConnect | kRegistryRead, Stored(kTestKey2), {}, "t"};
    ASSERT_THAT(table_.AddPolicy(kTestHub, std::move(policy)), testing::IsOk());
    DpsGroupEntry group{"sensors", "sensor-", Stored(kTestKey), {}, "t"};
    ASSERT_THAT(table_.AddDpsGroup(kIdScope, std::move(group)), testing::IsOk());
    ASSERT_THAT(LoadExportText(text, "f", kTestHub, &table_), testing::IsOk());
    ASSERT_THAT(LoadExportText(testing::ExportLine("x"), "g", kOtherHub, &table_), testing::IsOk());
  }

  // MintAll mints `requests` in one batch and checks each outcome against Minter::Mint alone.
  void MintAndCompare(const std::vector<Request>& requests, const CallerRule* caller,
                      Denials* denials) {
    std::vector<MintItem> items;
    for (const Request& r : requests) items.push_back(ItemOf(r));
    std::vector<MintOutcome> outcomes(items.size());
    batch_.Mint(table_, kNow, caller, items, absl::MakeSpan(outcomes), &scratch_, denials);
    for (size_t i = 0; i < requests.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("item ", i, ": ", ResourceUri(requests[i].scope)));
      absl::Status allowed = Authorize(caller, requests[i].scope);
      if (!allowed.ok()) {
        EXPECT_THAT(outcomes[i].status,
                    StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
        continue;
      }
      const absl::StatusOr<MintedToken> alone = minter_.Mint(
          table_, MintRequest{requests[i].scope, requests[i].ttl, requests[i].slot}, kNow);
      ASSERT_EQ(outcomes[i].status, alone.status());
      if (!alone.ok()) continue;
      EXPECT_EQ(outcomes[i].token, alone->token);
      EXPECT_EQ(outcomes[i].expires_at, alone->expires_at);
      EXPECT_EQ(outcomes[i].renew_after, alone->renew_after);
      EXPECT_EQ(outcomes[i].server_time, alone->server_time);
      EXPECT_EQ(outcomes[i].key_slot, alone->key_slot);
    }
  }

  IdentityTable table_;
  Minter minter_{MintOptions{}, *BatchSigner::Best()};
  BatchMinter batch_{&minter_};
  MintScratch scratch_;
};

TEST_F(BatchMinterTest, EveryScopeAndFailureMatchesTheMinterAlone) {
  const std::vector<Request> requests = {
      {TokenScope::Device(kTestHub, "dev1")},
      {TokenScope::Device(kTestHub, "dev2"), 600, KeySlot::kSecondary},
      {TokenScope::Module(kTestHub, "dev0", "mod")},
      {TokenScope::Policy(kTestHub, "service", "devices/dev1")},
      {TokenScope::Registration(kIdScope, "sensor-7")},
      {TokenScope::Device(kTestHub, "ghost")},                                // NOT_FOUND
      {TokenScope::Device(kTestHub, "off")},                                  // FAILED_PRECONDITION
      {TokenScope::Module(kTestHub, "dev0", "mod"), 0, KeySlot::kSecondary},  // no such key
      {TokenScope::Device(kTestHub, "dev3"), 30},               // below the minimum TTL
      {TokenScope::Device(kTestHub, "bad id")},                 // INVALID_ARGUMENT
      {TokenScope::Device("nohub.azure-devices.net", "dev1")},  // hub not served
      {TokenScope::Device(kOtherHub, "x")},
      {TokenScope::Policy(kTestHub, "iothubowner")},       // unknown policy
      {TokenScope::Registration(kIdScope, "camera-1")},    // no group covers it
      {TokenScope::Device(kTestHub, "dev4"), 10 * 86400},  // capped at the maximum
  };
  Denials denials;
  MintAndCompare(requests, Authorizer::Unrestricted(), &denials);
  EXPECT_EQ(denials.count, 0);
}

TEST_F(BatchMinterTest, LongBatchesInAnyOrderMatchItemByItem) {
  // Longer than the look-ahead ring many times over, with hits, misses and both hubs mixed, so
  // that every position of the ring meets every kind of item.
  std::mt19937_64 rng(testing::TestSeed());
  std::vector<Request> requests;
  for (int i = 0; i < 1000; ++i) {
    const int pick = static_cast<int>(rng() % 10);
    if (pick < 6) {
      requests.push_back({TokenScope::Device(kTestHub, absl::StrCat("dev", rng() % 64))});
    } else if (pick == 6) {
      requests.push_back({TokenScope::Device(kTestHub, absl::StrCat("missing", i))});
    } else if (pick == 7) {
      requests.push_back({TokenScope::Module(kTestHub, "dev0", "mod"), 900});
    } else if (pick == 8) {
      requests.push_back({TokenScope::Device(kOtherHub, "x"), 0, KeySlot::kPrimary});
    } else {
      requests.push_back({TokenScope::Registration(kIdScope, absl::StrCat("sensor-", i))});
    }
  }
  Denials denials;
  MintAndCompare(requests, Authorizer::Unrestricted(), &denials);
  // The same scratch again, with a shorter batch: nothing of the first is left in the outcomes.
  requests.resize(17);
  MintAndCompare(requests, Authorizer::Unrestricted(), &denials);
  EXPECT_EQ(denials.count, 0);
}

TEST_F(BatchMinterTest, DeniedItemsFailAloneBeforeAnyLookupAndAreCounted) {
  absl::StatusOr<Authorizer> authorizer = [] {
    CallerRule rule;
    rule.name = "gw";
    rule.match_value = "gw";
    AllowRule allow;
    allow.hub = *IdPattern::Parse(kTestHub);
    allow.devices.push_back(*IdPattern::Parse("dev1*"));
    rule.allow.push_back(std::move(allow));
    return Authorizer::Create({std::move(rule)});
  }();
  ASSERT_THAT(authorizer, testing::IsOk());
  const CallerRule* caller = &authorizer->rules().front();
  const std::vector<Request> requests = {
      {TokenScope::Device(kTestHub, "dev1")},        // allowed
      {TokenScope::Device(kTestHub, "dev2")},        // denied
      {TokenScope::Device(kTestHub, "dev1-ghost")},  // allowed, then NOT_FOUND
      {TokenScope::Device(kTestHub, "ghost")},       // denied: not NOT_FOUND, nothing to probe
      {TokenScope::Module(kTestHub, "dev10", "m")},  // modules not granted
      {TokenScope::Policy(kTestHub, "service")},     // policies not granted
      {TokenScope::Device(kTestHub, "dev12")},       // allowed
  };
  Denials denials;
  MintAndCompare(requests, caller, &denials);
  EXPECT_EQ(denials.count, 4);
  EXPECT_THAT(denials.first,
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("device 'dev2' of hub")));

  // A null caller (no rule matched) is denied everything.
  Denials none;
  MintAndCompare(requests, nullptr, &none);
  EXPECT_EQ(none.count, static_cast<int>(requests.size()));
}

TEST_F(BatchMinterTest, UnreadableItemsFailWithTheirOwnError) {
  std::vector<MintItem> items = {MintItem::Identity(kTestHub, "dev1"), MintItem(),
                                 MintItem::Identity(kTestHub, "dev2")};
  items[1].error = absl::InvalidArgumentError("request has no scope");
  std::vector<MintOutcome> outcomes(items.size());
  Denials denials;
  batch_.Mint(table_, kNow, Authorizer::Unrestricted(), items, absl::MakeSpan(outcomes), &scratch_,
              &denials);
  EXPECT_TRUE(outcomes[0].status.ok());
  EXPECT_THAT(outcomes[1].status,
              StatusIs(absl::StatusCode::kInvalidArgument, "request has no scope"));
  EXPECT_TRUE(outcomes[1].token.empty());
  EXPECT_TRUE(outcomes[2].status.ok());
  EXPECT_NE(outcomes[0].token, outcomes[2].token);
}

TEST_F(BatchMinterTest, EmptyBatchAndMismatchedSpans) {
  Denials denials;
  batch_.Mint(table_, kNow, Authorizer::Unrestricted(), {}, {}, &scratch_, &denials);
  EXPECT_EQ(denials.count, 0);
  const MintItem item = MintItem::Identity(kTestHub, "dev1");
  EXPECT_DEATH(batch_.Mint(table_, kNow, Authorizer::Unrestricted(), absl::MakeConstSpan(&item, 1),
                           {}, &scratch_, &denials),
               "");
}

}  // namespace
}  // namespace sasmint
