#include "service/keystore/derived_key_cache.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

// The DPS documentation's published group key and derived device key.
constexpr const char* kGroupKey = testing::kTestGroupKey;
constexpr const char* kRegistration = testing::kTestRegistration;
constexpr const char* kDerived = testing::kTestDerivedKey;

Mac Probe(const HmacKey& key) {
  const uint8_t msg[] = {'p', 'r', 'o', 'b', 'e'};
  return key.Sign(msg);
}

TEST(DerivedKeyCacheTest, DerivesThePublishedKeyOnceThenHits) {
  const HmacKey group = HmacKey::FromSecret(*DecodeBase64Key(kGroupKey));
  const HmacKey expected = HmacKey::FromSecret(*DecodeBase64Key(kDerived));
  DerivedKeyCache cache(10);
  EXPECT_EQ(Probe(cache.GetOrDerive(group.Fingerprint(), kRegistration, group)), Probe(expected));
  EXPECT_EQ(Probe(cache.GetOrDerive(group.Fingerprint(), kRegistration, group)), Probe(expected));
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(DerivedKeyCacheTest, EvictsLeastRecentlyUsedAndSeparatesGroupKeys) {
  const HmacKey group_a = HmacKey::FromBytes(std::vector<uint8_t>(32, 1));
  const HmacKey group_b = HmacKey::FromBytes(std::vector<uint8_t>(32, 2));
  DerivedKeyCache cache(3);
  for (const char* id : {"r1", "r2", "r3"}) cache.GetOrDerive(group_a.Fingerprint(), id, group_a);
  cache.GetOrDerive(group_a.Fingerprint(), "r1", group_a);  // r1 is now the most recent
  cache.GetOrDerive(group_a.Fingerprint(), "r4", group_a);  // evicts r2
  EXPECT_EQ(cache.size(), 3u);
  const uint64_t misses = cache.misses();
  cache.GetOrDerive(group_a.Fingerprint(), "r1", group_a);
  EXPECT_EQ(cache.misses(), misses);
  cache.GetOrDerive(group_a.Fingerprint(), "r2", group_a);
  EXPECT_EQ(cache.misses(), misses + 1);
  // Another group key (a rotated one) never gets the first key's device keys.
  const HmacKey b_key = cache.GetOrDerive(group_b.Fingerprint(), "r1", group_b);
  const SecretBytes expected =
      DeriveDeviceKey(SecretBytes::CopyFrom(std::vector<uint8_t>(32, 2)), "r1");
  EXPECT_EQ(Probe(b_key), Probe(HmacKey::FromSecret(expected)));
  EXPECT_NE(Probe(b_key), Probe(cache.GetOrDerive(group_a.Fingerprint(), "r1", group_a)));
}

TEST(DerivedKeyCacheTest, ZeroCapacityDerivesEveryTimeAndConcurrentUseAgrees) {
  const HmacKey group = HmacKey::FromSecret(*DecodeBase64Key(kGroupKey));
  DerivedKeyCache off(0);
  off.GetOrDerive(group.Fingerprint(), kRegistration, group);
  EXPECT_EQ(off.size(), 0u);

  DerivedKeyCache cache(50);
  const std::string fp = group.Fingerprint();
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string id = absl::StrCat("reg-", i % 80);
        const HmacKey expected =
            HmacKey::FromSecret(DeriveDeviceKey(*DecodeBase64Key(kGroupKey), id));
        if (Probe(cache.GetOrDerive(fp, id, group)) != Probe(expected)) ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int w : wrong) EXPECT_EQ(w, 0);
  EXPECT_LE(cache.size(), 50u);
}

}  // namespace
}  // namespace sasmint
