// IdentityTable storage at scale: identities across rehashes and key chunks, long names beside
// inline ones, refs taken before the table grew, and Compact after an over-generous Reserve.
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/key_store.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;

constexpr char kHub[] = "hub.azure-devices.net";

// A distinct key per identity, so that a key read from the wrong place is caught.
std::vector<uint8_t> KeyBytes(uint32_t i) {
  std::vector<uint8_t> bytes(32);
  for (size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<uint8_t>(i >> (8 * (b % 4)));
  bytes[31] = 0x5a;
  return bytes;
}

IdentityKeys KeysOf(uint32_t i) {
  IdentityKeys keys;
  keys.primary.emplace(HmacKey::FromBytes(KeyBytes(i)));
  if (i % 5 == 0) keys.secondary.emplace(HmacKey::FromBytes(KeyBytes(i + 1'000'000)));
  if (i % 7 == 0) keys.status = IdentityStatus::kDisabled;
  keys.version = i % 3 + 1;
  keys.source_line = i + 1;
  return keys;
}

// Device IDs of every length from 1 to 128 characters (inline up to 44 bytes with the module
// ID, in the long-name blob beyond), distinct for each i.
std::string DeviceOf(uint32_t i) {
  std::string id = absl::StrCat(i, "-");
  const size_t length = 1 + i % 128;
  while (id.size() < length)
    id.push_back("abcdefghijklmnopqrstuvwxyz0123456789-.:_"[id.size() % 40]);
  return id.size() > length ? absl::StrCat(i) : id;
}
std::string ModuleOf(uint32_t i) { return i % 4 == 0 ? absl::StrCat("m", i % 50) : ""; }

void ExpectIdentity(const IdentityRef& r, uint32_t i) {
  ASSERT_TRUE(r) << i;
  EXPECT_EQ(r.device_id(), DeviceOf(i));
  EXPECT_EQ(r.module_id(), ModuleOf(i));
  EXPECT_EQ(r.hub(), kHub);
  EXPECT_EQ(r.status(), i % 7 == 0 ? IdentityStatus::kDisabled : IdentityStatus::kEnabled) << i;
  EXPECT_EQ(r.version(), i % 3 + 1);
  EXPECT_EQ(r.source(), absl::StrCat("?:", i + 1));
  EXPECT_EQ(r.hash(), IdentityTable::IdentityHash(kHub, DeviceOf(i), ModuleOf(i)));
  const HmacKey* primary = r.key(KeySlot::kPrimary);
  ASSERT_NE(primary, nullptr);
  EXPECT_EQ(primary->Fingerprint(), HmacKey::FromBytes(KeyBytes(i)).Fingerprint()) << i;
  const HmacKey* secondary = r.key(KeySlot::kSecondary);
  if (i % 5 == 0) {
    ASSERT_NE(secondary, nullptr);
    EXPECT_EQ(secondary->Fingerprint(), HmacKey::FromBytes(KeyBytes(i + 1'000'000)).Fingerprint());
  } else {
    EXPECT_EQ(secondary, nullptr);
  }
}

TEST(IdentityTableTest, EveryIdentityKeepsItsOwnKeysAcrossRehashesAndChunks) {
  // 40,000 identities: the table rehashes many times while growing unreserved, and keys span
  // three 2 MiB chunks (16,384 key pairs each).
  constexpr uint32_t kCount = 40'000;
  IdentityTable table;
  for (uint32_t i = 0; i < kCount; ++i) {
    ASSERT_THAT(table.Add(kHub, DeviceOf(i), ModuleOf(i), KeysOf(i)), IsOk()) << i;
  }
  table.Compact();
  ASSERT_EQ(table.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) {
    ExpectIdentity(table.Find(kHub, DeviceOf(i), ModuleOf(i)), i);
    // A longer device ID or another module is another identity.
    EXPECT_FALSE(table.Find(kHub, DeviceOf(i) + "x", ModuleOf(i)));
    EXPECT_FALSE(table.Find(kHub, DeviceOf(i), ModuleOf(i) + "x"));
  }
  size_t seen = 0;
  table.ForEachIdentity([&](const IdentityRef& r) {
    ++seen;
    EXPECT_TRUE(table.Find(kHub, r.device_id(), r.module_id()));
  });
  EXPECT_EQ(seen, kCount);
}

TEST(IdentityTableTest, RefsTakenBeforeTheTableGrewStillReadTheirIdentity) {
  // A ref remembers where its identity's hot entry was; rehashing moves entries, and the ref
  // must notice and follow (a loader or the admin API may hold one while adding more).
  IdentityTable table;
  ASSERT_THAT(table.Add(kHub, DeviceOf(3), ModuleOf(3), KeysOf(3)), IsOk());
  ASSERT_THAT(table.Add(kHub, DeviceOf(60), ModuleOf(60), KeysOf(60)), IsOk());
  const IdentityRef first = table.Find(kHub, DeviceOf(3), ModuleOf(3));
  const IdentityRef long_name = table.Find(kHub, DeviceOf(60), ModuleOf(60));
  for (uint32_t i = 100; i < 5'000; ++i) {
    ASSERT_THAT(table.Add(kHub, DeviceOf(i), ModuleOf(i), KeysOf(i)), IsOk());
  }
  table.SetVersion(first, 9);
  table.Compact();
  ExpectIdentity(long_name, 60);
  EXPECT_EQ(first.device_id(), DeviceOf(3));
  EXPECT_EQ(first.version(), 9u);
  EXPECT_EQ(first.key(KeySlot::kPrimary)->Fingerprint(),
            HmacKey::FromBytes(KeyBytes(3)).Fingerprint());
}

TEST(IdentityTableTest, CompactReturnsWhatAnOvergenerousReserveTook) {
  IdentityTable table;
  table.ReserveIdentities(200'000);
  for (uint32_t i = 0; i < 2'000; ++i) {
    ASSERT_THAT(table.Add(kHub, DeviceOf(i), ModuleOf(i), KeysOf(i)), IsOk());
  }
  const size_t reserved = table.IdentityMemoryBytes();
  table.Compact();
  EXPECT_LT(table.IdentityMemoryBytes() * 4, reserved);
  for (uint32_t i = 0; i < 2'000; ++i)
    ExpectIdentity(table.Find(kHub, DeviceOf(i), ModuleOf(i)), i);
}

// ReferenceStableHash is StableHash written the plain way (the tail copied with memcpy): the
// service reads the tail with overlapping loads instead, which must not change a single value
// (replicas of different builds must derive the same renew-after points).
uint64_t ReferenceStableHash(absl::string_view text) {
  const auto mum = [](uint64_t a, uint64_t b) {
    const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
  };
  const auto load = [](const char* p, size_t n) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    return w;
  };
  constexpr uint64_t kSeed0 = 0xa0761d6478bd642full;
  constexpr uint64_t kSeed1 = 0xe7037ed1a0b428dbull;
  const char* p = text.data();
  size_t n = text.size();
  uint64_t h = kSeed0 ^ mum(n ^ kSeed1, kSeed0);
  for (; n > 16; n -= 16, p += 16) h = mum(load(p, 8) ^ kSeed1, load(p + 8, 8) ^ h);
  const uint64_t a = n > 8 ? load(p, 8) : n > 0 ? load(p, n) : 0;
  const uint64_t b = n > 8 ? load(p + 8, n - 8) : 0;
  uint64_t z = mum(a ^ kSeed1, b ^ h) ^ text.size();
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

TEST(StableHashTest, EqualsThePlainComputationAtEveryLength) {
  std::mt19937_64 rng(5);
  std::string text(300, '\0');
  for (char& c : text) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n <= 100; ++n) {
      const absl::string_view s = absl::string_view(text).substr(offset, n);
      ASSERT_EQ(StableHash(s), ReferenceStableHash(s)) << offset << " " << n;
    }
  }
  // Pinned values: a change here changes every renew-after point (and policy/DPS jitter).
  EXPECT_EQ(StableHash(""), ReferenceStableHash(""));
  EXPECT_EQ(StableHash("hub.azure-devices.net/devices/dev1"), 0xfb27723c6e9d3eceull);
}

TEST(StableHashTest, IdentityHashIsPinnedAndSeparatesItsParts) {
  // The identity hash combines the hashes of hub, device and module; pinned, because it seeds
  // renew_after, which replicas must agree on.
  EXPECT_EQ(IdentityTable::IdentityHash("hub.azure-devices.net", "dev1", ""),
            0xe63a94c084102c16ull);
  EXPECT_EQ(IdentityTable::IdentityHash("hub.azure-devices.net", "dev1", "m1"),
            0x4b78be6cb0cb0bdbull);
  // Moving bytes between the parts gives other identities, and other hashes.
  EXPECT_NE(IdentityTable::IdentityHash("hub.azure-devices.net", "dev1", ""),
            IdentityTable::IdentityHash("hub.azure-devices.ne", "tdev1", ""));
  EXPECT_NE(IdentityTable::IdentityHash("h", "dev1", "m1"),
            IdentityTable::IdentityHash("h", "dev1m", "1"));
  EXPECT_NE(IdentityTable::IdentityHash("h", "d", "m"), IdentityTable::IdentityHash("h", "m", "d"));
}

TEST(IdentityTableTest, AnEmptyTableFindsNothing) {
  IdentityTable table;
  EXPECT_FALSE(table.Find(kHub, "d", ""));
  table.Compact();
  EXPECT_FALSE(table.Find(kHub, "d", ""));
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace sasmint
