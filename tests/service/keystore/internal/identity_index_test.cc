// IdentityIndex directly: what Insert stores Find returns, positions and ids, inline and long
// names, flags and keys, across the rehashes of a growing table and a Compact.
#include "service/keystore/internal/identity_index.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sasmint::internal {
namespace {

HmacKey KeyOf(uint32_t i) {
  std::vector<uint8_t> bytes(32);
  for (size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<uint8_t>(i * 31 + b);
  return HmacKey::FromBytes(bytes);
}

// Names of identity i: mostly short, every seventh with a name too long to sit inline, every
// fifth a module.
std::string DeviceOf(uint32_t i) {
  return i % 7 == 0 ? absl::StrCat("a-device-name-long-enough-to-live-outside-the-entry-", i)
                    : absl::StrCat("dev", i);
}
std::string ModuleOf(uint32_t i) { return i % 5 == 0 ? absl::StrCat("mod", i) : ""; }
uint8_t HubOf(uint32_t i) { return static_cast<uint8_t>(i % 3); }

Record RecordOf(uint32_t i, const HmacKey& key) {
  Record r;
  r.hash = IdentityHash(absl::StrCat("hub", HubOf(i)), DeviceOf(i), ModuleOf(i));
  r.primary = &key;
  r.secondary = &key;
  r.version = i + 1;
  r.source_line = i + 10;
  r.flags = Record::kHasPrimary | (i % 4 == 0 ? Record::kDisabled : 0);
  r.hub = HubOf(i);
  return r;
}

int64_t FindOf(const IdentityIndex& index, uint32_t i) {
  return index.Find(IdentityHash(absl::StrCat("hub", HubOf(i)), DeviceOf(i), ModuleOf(i)), HubOf(i),
                    DeviceOf(i), ModuleOf(i));
}

TEST(IdentityIndexTest, FindReturnsWhatInsertStoredAcrossRehashes) {
  IdentityIndex index;
  constexpr uint32_t kCount = 20000;  // many rehashes from the 64-position start
  for (uint32_t i = 0; i < kCount; ++i) {
    const HmacKey key = KeyOf(i);
    uint32_t id = 0;
    ASSERT_TRUE(index.Insert(RecordOf(i, key), DeviceOf(i), ModuleOf(i), &id));
    ASSERT_EQ(id, i);  // ids are insertion numbers
  }
  EXPECT_EQ(index.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) {
    const int64_t position = FindOf(index, i);
    ASSERT_GE(position, 0) << i;
    const uint32_t id = index.id_at(static_cast<uint32_t>(position));
    ASSERT_EQ(id, i);
    EXPECT_EQ(index.position_of(id), position);
    EXPECT_EQ(index.device_id(id, static_cast<uint32_t>(position)), DeviceOf(i));
    EXPECT_EQ(index.module_id(id), ModuleOf(i));  // through the cold record
    EXPECT_EQ(index.hub(id), HubOf(i));
    EXPECT_EQ(index.version(id), i + 1);
    EXPECT_EQ(index.source_line(id), i + 10);
    EXPECT_EQ((index.flags(id) & Record::kDisabled) != 0, i % 4 == 0);
    EXPECT_EQ(index.key(id, 0).Fingerprint(), KeyOf(i).Fingerprint());
  }
}

TEST(IdentityIndexTest, DuplicatesAreRefusedAndNearMissesAreNotFound) {
  IdentityIndex index;
  const HmacKey key = KeyOf(1);
  uint32_t id = 0;
  ASSERT_TRUE(index.Insert(RecordOf(5, key), DeviceOf(5), ModuleOf(5), &id));
  EXPECT_FALSE(index.Insert(RecordOf(5, key), DeviceOf(5), ModuleOf(5), &id));
  EXPECT_EQ(index.size(), 1u);
  // Same names, other hub; same hash but other names (a forged collision): not found.
  ASSERT_EQ(HubOf(5), 2);
  EXPECT_LT(index.Find(IdentityHash("hub0", DeviceOf(5), ModuleOf(5)), 0, DeviceOf(5), ModuleOf(5)),
            0);
  const uint64_t hash = IdentityHash("hub2", DeviceOf(5), ModuleOf(5));
  EXPECT_LT(index.Find(hash, HubOf(5), "dev5x", ModuleOf(5)), 0);
  EXPECT_LT(index.Find(hash, HubOf(5), DeviceOf(5), "other"), 0);
  EXPECT_GE(FindOf(index, 5), 0);
}

TEST(IdentityIndexTest, StalePositionsFallBackToTheColdRecord) {
  IdentityIndex index;
  const HmacKey key = KeyOf(0);
  uint32_t id = 0;
  ASSERT_TRUE(index.Insert(RecordOf(0, key), DeviceOf(0), ModuleOf(0), &id));
  const uint32_t before = index.position_of(id);
  for (uint32_t i = 1; i < 5000; ++i) {
    ASSERT_TRUE(index.Insert(RecordOf(i, key), DeviceOf(i), ModuleOf(i), &id));
  }
  // The table has rehashed: the old position is stale (or now someone else's) and is ignored.
  EXPECT_EQ(index.device_id(0, before), DeviceOf(0));
  EXPECT_EQ(index.device_id(0, IdentityIndex::kNoPosition), DeviceOf(0));
  EXPECT_EQ(index.hash(0, before), RecordOf(0, key).hash);
}

TEST(IdentityIndexTest, ReserveAndCompactKeepEveryIdentity) {
  IdentityIndex index;
  index.Reserve(100000);
  const size_t reserved = index.MemoryBytes();
  const HmacKey key = KeyOf(3);
  uint32_t id = 0;
  for (uint32_t i = 0; i < 1000; ++i) {
    ASSERT_TRUE(index.Insert(RecordOf(i, key), DeviceOf(i), ModuleOf(i), &id));
  }
  index.Compact();
  EXPECT_LT(index.MemoryBytes(), reserved);
  for (uint32_t i = 0; i < 1000; ++i) ASSERT_GE(FindOf(index, i), 0) << i;
  std::vector<uint32_t> seen;
  index.ForEach([&](uint32_t each) { seen.push_back(each); });
  ASSERT_EQ(seen.size(), 1000u);
  for (uint32_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
}

}  // namespace
}  // namespace sasmint::internal
