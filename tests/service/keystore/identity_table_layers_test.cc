// Layered identity tables (IdentityTable::LayerOver): an overlay of puts and tombstones over a
// shared base, as the KeyAdmin API builds them; and the retired-key index they carry.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/key_store.h"
#include "service/keystore/retired_keys.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr char kOtherHub[] = "other.azure-devices.net";

HmacKey KeyOf(uint8_t fill) { return HmacKey::FromBytes(std::vector<uint8_t>(32, fill)); }

IdentityKeys Keys(uint8_t fill, uint32_t version = 1) {
  IdentityKeys keys;
  keys.primary.emplace(KeyOf(fill));
  keys.version = version;
  return keys;
}

// HoldsKey returns whether `a` is the key `b` (a null `a` is not).
bool HoldsKey(const HmacKey* a, const HmacKey& b) { return SameKey(a, &b); }

// Base: hub with d1..d4 (key 1..4) and d1/m1 (key 9); other hub with x (key 7).
std::shared_ptr<const IdentityTable> MakeBase() {
  auto base = std::make_shared<IdentityTable>();
  HubSettings secondary;
  secondary.active_slot = KeySlot::kSecondary;
  EXPECT_THAT(base->AddHub(kHub, secondary), IsOk());
  for (int i = 1; i <= 4; ++i) {
    EXPECT_THAT(base->Add(kHub, absl::StrCat("d", i), "", Keys(i)), IsOk());
  }
  EXPECT_THAT(base->Add(kHub, "d1", "m1", Keys(9)), IsOk());
  EXPECT_THAT(base->Add(kOtherHub, "x", "", Keys(7)), IsOk());
  return base;
}

std::vector<std::string> Names(const IdentityTable& table) {
  std::vector<std::string> names;
  table.ForEachIdentity([&](const IdentityRef& r) {
    names.push_back(absl::StrCat(r.hub() == kHub ? "" : "other:", r.device_id(),
                                 r.module_id().empty() ? "" : "/", r.module_id()));
  });
  return names;
}

TEST(IdentityTableLayersTest, FindGoesThroughOverlayTombstonesThenBase) {
  const auto base = MakeBase();
  auto overlay = IdentityTable::LayerOver(base);
  ASSERT_THAT(overlay->Add(kHub, "d2", "", Keys(22, 2)), IsOk());  // replaces d2
  ASSERT_THAT(overlay->Add(kHub, "new", "", Keys(50)), IsOk());    // adds
  ASSERT_THAT(overlay->Hide(kHub, "d3", ""), IsOk());              // deletes
  ASSERT_THAT(overlay->Hide(kHub, "d1", "m1"), IsOk());            // deletes a module only

  EXPECT_TRUE(HoldsKey(overlay->Find(kHub, "d1", "").key(KeySlot::kPrimary), KeyOf(1)));
  const IdentityRef d2 = overlay->Find(kHub, "d2", "");
  EXPECT_TRUE(HoldsKey(d2.key(KeySlot::kPrimary), KeyOf(22)));
  EXPECT_EQ(d2.version(), 2u);
  EXPECT_EQ(d2.source(), "admin");
  EXPECT_EQ(d2.hub(), kHub);
  EXPECT_TRUE(overlay->Find(kHub, "new", ""));
  EXPECT_FALSE(overlay->Find(kHub, "d3", ""));
  EXPECT_FALSE(overlay->Find(kHub, "d1", "m1"));
  EXPECT_TRUE(overlay->Find(kOtherHub, "x", ""));
  EXPECT_FALSE(overlay->Find(kHub, "ghost", ""));
  EXPECT_FALSE(overlay->Find("nowhere.azure-devices.net", "d1", ""));
  // The base is untouched.
  EXPECT_TRUE(HoldsKey(base->Find(kHub, "d2", "").key(KeySlot::kPrimary), KeyOf(2)));
  EXPECT_TRUE(base->Find(kHub, "d3", ""));
  // Hubs and their settings are the base's.
  EXPECT_TRUE(overlay->ServesHub(kHub));
  ASSERT_NE(overlay->Settings(kHub), nullptr);
  EXPECT_EQ(overlay->Settings(kHub)->active_slot, KeySlot::kSecondary);
  EXPECT_THAT(overlay->AddHub("new.azure-devices.net", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  EXPECT_THAT(overlay->Add("new.azure-devices.net", "d", "", Keys(1)),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(overlay->Hide(kHub, "new", ""),
              StatusIs(absl::StatusCode::kAlreadyExists, ::testing::_));
}

TEST(IdentityTableLayersTest, SizeForEachAndMemoryAccountForShadowing) {
  const auto base = MakeBase();
  auto overlay = IdentityTable::LayerOver(base);
  ASSERT_THAT(overlay->Add(kHub, "d2", "", Keys(22)), IsOk());
  ASSERT_THAT(overlay->Add(kHub, "new", "", Keys(50)), IsOk());
  ASSERT_THAT(overlay->Hide(kHub, "d3", ""), IsOk());
  ASSERT_THAT(overlay->Hide(kHub, "never-existed", ""), IsOk());
  EXPECT_EQ(base->size(), 6u);
  EXPECT_EQ(overlay->size(), 6u);  // -d3 +new
  EXPECT_THAT(Names(*overlay), UnorderedElementsAre("d1", "d2", "new", "d4", "d1/m1", "other:x"));
  EXPECT_EQ(overlay->own_entries(), 4u);
  EXPECT_GT(overlay->IdentityMemoryBytes(), base->IdentityMemoryBytes());
  int hidden = 0;
  overlay->ForEachOwnEntry([&](const IdentityRef& r, bool h) {
    if (h) {
      ++hidden;
      EXPECT_EQ(r.key(KeySlot::kPrimary), nullptr);
    }
  });
  EXPECT_EQ(hidden, 2);
  EXPECT_TRUE(overlay->Shadows(kHub, "d3", "", IdentityTable::IdentityHash(kHub, "d3", "")));
  EXPECT_FALSE(overlay->Shadows(kHub, "d1", "", IdentityTable::IdentityHash(kHub, "d1", "")));
}

TEST(IdentityTableLayersTest, DiffSeesTheCombinedView) {
  const auto base = MakeBase();
  auto overlay = IdentityTable::LayerOver(base);
  ASSERT_THAT(overlay->Add(kHub, "d2", "", Keys(22)), IsOk());  // changed
  ASSERT_THAT(overlay->Add(kHub, "d4", "", Keys(4)), IsOk());   // same key: unchanged
  ASSERT_THAT(overlay->Add(kHub, "new", "", Keys(50)), IsOk());
  ASSERT_THAT(overlay->Hide(kHub, "d3", ""), IsOk());
  const TableDiff forward = DiffTables(*base, *overlay);
  EXPECT_EQ(forward.added, 1u);
  EXPECT_EQ(forward.changed, 1u);
  EXPECT_EQ(forward.removed, 1u);
  const TableDiff back = DiffTables(*overlay, *base);
  EXPECT_EQ(back.added, 1u);
  EXPECT_EQ(back.changed, 1u);
  EXPECT_EQ(back.removed, 1u);
}

std::vector<std::string> ListAll(const IdentityTable& table, absl::string_view hub, size_t page) {
  std::vector<std::string> out;
  std::string after_device, after_module;
  for (int guard = 0; guard < 100; ++guard) {
    std::string last_device, last_module;
    const bool more =
        table.ListIdentities(hub, after_device, after_module, page, [&](const IdentityRef& r) {
          out.push_back(
              absl::StrCat(r.device_id(), r.module_id().empty() ? "" : "/", r.module_id()));
          last_device = std::string(r.device_id());
          last_module = std::string(r.module_id());
        });
    if (!more) break;
    after_device = last_device;
    after_module = last_module;
  }
  return out;
}

TEST(IdentityTableLayersTest, ListIdentitiesMergesLayersInNameOrder) {
  const auto base = MakeBase();
  EXPECT_THAT(ListAll(*base, kHub, 100), ElementsAre("d1", "d1/m1", "d2", "d3", "d4"));
  auto overlay = IdentityTable::LayerOver(base);
  ASSERT_THAT(overlay->Add(kHub, "d2", "", Keys(22)), IsOk());
  ASSERT_THAT(overlay->Add(kHub, "a", "", Keys(50)), IsOk());
  ASSERT_THAT(overlay->Add(kHub, "d1", "m0", Keys(51)), IsOk());
  ASSERT_THAT(overlay->Add(kHub, "e", "", Keys(52)), IsOk());
  ASSERT_THAT(overlay->Hide(kHub, "d3", ""), IsOk());
  const std::vector<std::string> expected = {"a", "d1", "d1/m0", "d1/m1", "d2", "d4", "e"};
  for (size_t page : {1, 2, 3, 100}) {
    EXPECT_EQ(ListAll(*overlay, kHub, page), expected) << "page " << page;
  }
  // The overlay's d2 is listed, not the base's.
  overlay->ListIdentities(kHub, "d1", "m1", 1, [&](const IdentityRef& r) {
    EXPECT_EQ(r.device_id(), "d2");
    EXPECT_EQ(r.source(), "admin");
  });
  // A cursor that names a removed identity resumes after it.
  std::vector<std::string> after_d3;
  overlay->ListIdentities(kHub, "d3", "", 10, [&](const IdentityRef& r) {
    after_d3.push_back(std::string(r.device_id()));
  });
  EXPECT_THAT(after_d3, ElementsAre("d4", "e"));
  EXPECT_THAT(ListAll(*overlay, kOtherHub, 10), ElementsAre("x"));
  EXPECT_FALSE(overlay->ListIdentities("nowhere.azure-devices.net", "", "", 10,
                                       [](const IdentityRef&) { FAIL(); }));
}

TEST(IdentityTableLayersTest, SetVersionAndRetiredKeys) {
  auto table = std::make_shared<IdentityTable>();
  ASSERT_THAT(table->Add(kHub, "d", "", Keys(1)), IsOk());
  const IdentityRef d = table->Find(kHub, "d", "");
  EXPECT_TRUE(table->RetiredKeys(d).empty());
  table->SetVersion(d, 5);
  EXPECT_EQ(table->Find(kHub, "d", "").version(), 5u);

  auto retired = std::make_shared<RetiredKeyIndex>();
  RetiredKeyList list = NewRetiredKeyList();
  list.push_back(
      RetiredKey{StoredKey{KeyOf(8), KeyOf(8).Fingerprint()}, KeySlot::kPrimary, 4, 100});
  retired->Set(IdentityName(kHub, "d", ""), std::move(list));
  table->SetRetiredKeys(retired);
  const absl::Span<const RetiredKey> keys = table->RetiredKeys(table->Find(kHub, "d", ""));
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].version, 4u);
  EXPECT_EQ(keys[0].key.fingerprint, KeyOf(8).Fingerprint());
  // An overlay starts with its base's history.
  auto overlay = IdentityTable::LayerOver(table);
  EXPECT_EQ(overlay->RetiredKeys(overlay->Find(kHub, "d", "")).size(), 1u);
}

TEST(RetiredKeyIndexTest, CopiesShareShardsAndPruneByTimeAndCount) {
  const auto entry = [](uint8_t fill, int64_t at) {
    return RetiredKey{StoredKey{KeyOf(fill), ""}, KeySlot::kPrimary, fill, at};
  };
  RetiredKeyIndex index;
  for (int i = 0; i < 100; ++i) {
    RetiredKeyList list = NewRetiredKeyList();
    list.push_back(entry(2, 1000 + i));
    list.push_back(entry(1, 500));
    index.Set(IdentityName(kHub, absl::StrCat("d", i), ""), std::move(list));
  }
  EXPECT_EQ(index.identities(), 100u);
  EXPECT_EQ(index.keys(), 200u);
  RetiredKeyIndex copy(index);
  copy.Erase(IdentityName(kHub, "d0", ""));
  EXPECT_EQ(copy.identities(), 99u);
  EXPECT_NE(index.Find(IdentityName(kHub, "d0", "")), nullptr) << "a copy's change leaked back";
  EXPECT_EQ(copy.Find(IdentityName(kHub, "d0", "")), nullptr);

  const RetentionOptions retention{/*keep_seconds=*/600, /*keep_count=*/2};
  EXPECT_EQ(copy.Prune(retention, 1000), 0u);   // nothing older than 400
  EXPECT_EQ(copy.Prune(retention, 1200), 99u);  // the keys retired at 500
  EXPECT_EQ(copy.keys(), 99u);
  EXPECT_EQ(index.keys(), 200u);
  EXPECT_EQ(copy.Prune(retention, 1650), 49u);  // retired before 1050: d1..d49
  EXPECT_EQ(copy.identities(), 50u);

  RetiredKeyList list = NewRetiredKeyList();
  for (int i = 5; i > 0; --i) list.push_back(entry(i, 100 * i));
  EXPECT_EQ(ApplyRetention(list, retention, 500), 3u);  // count: keep 2
  EXPECT_EQ(list[0].retired_at, 500);
  EXPECT_EQ(ApplyRetention(list, RetentionOptions{0, 2}, 500), 2u);  // time 0: keep none
}

TEST(RetiredKeyIndexTest, IdentityNamesRoundTrip) {
  absl::string_view hub, device, module;
  const std::string name = IdentityName(kHub, "d-1", "m:1");
  EXPECT_EQ(name, "hub.azure-devices.net/devices/d-1/modules/m:1");
  ASSERT_TRUE(SplitIdentityName(name, &hub, &device, &module));
  EXPECT_EQ(hub, kHub);
  EXPECT_EQ(device, "d-1");
  EXPECT_EQ(module, "m:1");
  const std::string device_name = IdentityName(kHub, "d", "");
  ASSERT_TRUE(SplitIdentityName(device_name, &hub, &device, &module));
  EXPECT_EQ(module, "");
  EXPECT_FALSE(SplitIdentityName("no-devices-here", &hub, &device, &module));
}

}  // namespace
}  // namespace sasmint
