// Secret hygiene of the key store, proven on this process's own memory: after a table is
// destroyed, neither a canary key, nor its base64 text, nor its HMAC midstate can be found in
// any writable mapping (heap, stacks, arenas), while the table was alive its midstate could.
#include <sys/prctl.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/admin/key_admin.h"
#include "service/keystore/export_loader.h"
#include "service/keystore/key_memory.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/hmac_sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;

// The needles are kept XOR-masked, so the test's own copies never match.
constexpr uint8_t kMask = 0xA5;

std::vector<uint8_t> Masked(absl::Span<const uint8_t> bytes) {
  std::vector<uint8_t> out(bytes.begin(), bytes.end());
  for (uint8_t& b : out) b ^= kMask;
  return out;
}

// CountInMemory returns how often the unmasked needle occurs in the process's private writable
// mappings.
int CountInMemory(const std::vector<uint8_t>& masked) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::vector<std::pair<uintptr_t, uintptr_t>> regions;
  while (std::getline(maps, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 2 || f[1] != "rw-p") continue;
    if (line.find("[vvar]") != std::string::npos || line.find("[vsyscall]") != std::string::npos) {
      continue;
    }
    uintptr_t start = 0, end = 0;
    if (sscanf(f[0].c_str(), "%lx-%lx", &start, &end) != 2) continue;
    regions.emplace_back(start, end);
  }
  int found = 0;
  const uint8_t first = masked[0] ^ kMask;
  for (const auto& [start, end] : regions) {
    const auto* p = reinterpret_cast<const volatile uint8_t*>(start);
    const size_t size = end - start;
    for (size_t i = 0; i + masked.size() <= size; ++i) {
      if (p[i] != first) continue;
      size_t j = 1;
      while (j < masked.size() && (p[i + j] ^ kMask) == masked[j]) ++j;
      if (j == masked.size()) ++found;
    }
  }
  return found;
}

TEST(SecretHygieneTest, KeysLeaveNoTraceAfterTheTableIsGone) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Sanitizers map shadow memory and quarantine freed blocks: a scan of every writable mapping
  // is neither safe nor meaningful there.
  GTEST_SKIP() << "memory scan skipped under a sanitizer";
#endif
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/devices.json";
  std::vector<uint8_t> masked_key, masked_text, masked_midstate;
  {
    uint8_t key[32];
    ASSERT_THAT(crypto::RandomBytes(absl::MakeSpan(key)), IsOk());
    masked_key = Masked(key);
    char text[44];
    Base64EncodeTo(key, text);
    masked_text = Masked(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text), 44));
    {
      const HmacKey hmac = HmacKey::FromBytes(key);
      const Sha256State& inner = hmac.inner_state(SecretKeyAccess::Get());
      masked_midstate =
          Masked(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(inner.data()), 32));
    }
    // The file is written with plain stdio into a buffer wiped afterwards.
    char line[256];
    const int n = snprintf(line, sizeof(line),
                           "{\"id\":\"canary\",\"authentication\":{\"symmetricKey\":"
                           "{\"primaryKey\":\"%.44s\"}}}\n",
                           text);
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    setvbuf(f, nullptr, _IONBF, 0);
    ASSERT_EQ(fwrite(line, 1, n, f), static_cast<size_t>(n));
    fclose(f);
    crypto::Cleanse(line, sizeof(line));
    crypto::Cleanse(text, sizeof(text));
    crypto::Cleanse(key, sizeof(key));
  }
  ASSERT_EQ(CountInMemory(masked_key), 0) << "the test itself left the key";
  ASSERT_EQ(CountInMemory(masked_text), 0) << "the test itself left the key text";
  ASSERT_EQ(CountInMemory(masked_midstate), 0) << "the test itself left the midstate";

  {
    auto table = std::make_unique<IdentityTable>();
    ASSERT_THAT(LoadExportFile(path, "hub.azure-devices.net", table.get()), IsOk());
    ASSERT_TRUE(table->Find("hub.azure-devices.net", "canary", ""));
    // Positive control: the scanner sees the stored midstate while the table lives.
    EXPECT_GE(CountInMemory(masked_midstate), 1);
    EXPECT_EQ(CountInMemory(masked_key), 0) << "the raw key is kept";
    EXPECT_EQ(CountInMemory(masked_text), 0) << "the key text outlived loading";
  }
  EXPECT_EQ(CountInMemory(masked_midstate), 0) << "the midstate outlived its table";
  EXPECT_EQ(CountInMemory(masked_key), 0);
  EXPECT_EQ(CountInMemory(masked_text), 0);
}

// MakeCanary fills `key` with random bytes and returns its HMAC inner midstate, masked.
std::vector<uint8_t> MakeCanary(uint8_t (&key)[32]) {
  EXPECT_THAT(crypto::RandomBytes(absl::MakeSpan(key)), IsOk());
  const HmacKey hmac = HmacKey::FromBytes(key);
  const Sha256State& inner = hmac.inner_state(SecretKeyAccess::Get());
  return Masked(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(inner.data()), 32));
}

// PutCanary puts `key` as the primary key of hub/canary through the admin core, then wipes the
// caller's copy of the bytes.
void PutCanary(KeyAdmin& admin, uint8_t (&key)[32]) {
  std::vector<AdminKeyEntry> entries(1);
  entries[0].identity = {"hub.azure-devices.net", "canary", ""};
  entries[0].primary.emplace(HmacKey::FromBytes(key));
  crypto::Cleanse(key, sizeof(key));
  ASSERT_THAT(admin.PutKeys(std::move(entries)), IsOk());
}

TEST(SecretHygieneTest, AdminDeletedAndPrunedRetiredKeysAreWiped) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "memory scan skipped under a sanitizer";
#endif
  std::vector<uint8_t> masked_a, masked_b;
  {
    uint8_t a[32], b[32];
    masked_a = MakeCanary(a);
    masked_b = MakeCanary(b);
    FakeClock clock(absl::FromUnixSeconds(1700000000));
    KeyStore store;
    KeyAdminOptions options;
    options.retention = {/*keep_seconds=*/3600, /*keep_count=*/2};
    KeyAdmin admin(&store, &clock, options);
    auto base = std::make_shared<IdentityTable>();
    IdentityKeys other;
    other.primary.emplace(HmacKey::FromBytes(std::vector<uint8_t>(32, 7)));
    ASSERT_THAT(base->Add("hub.azure-devices.net", "other", "", other), IsOk());
    ASSERT_THAT(admin.Start(std::move(base)), IsOk());

    PutCanary(admin, a);
    EXPECT_GE(CountInMemory(masked_a), 1) << "positive control: the put key is held";
    PutCanary(admin, b);  // rotates: key a is retired, still held for verification
    EXPECT_GE(CountInMemory(masked_a), 1) << "the retired key is kept within the retention";
    EXPECT_GE(CountInMemory(masked_b), 1);

    clock.Advance(absl::Hours(2));
    ASSERT_EQ(admin.PruneRetired(), 1u);
    EXPECT_EQ(CountInMemory(masked_a), 0) << "a pruned retired key outlived its pruning";
    EXPECT_GE(CountInMemory(masked_b), 1);

    ASSERT_THAT(
        admin.DeleteKeys(std::vector<AdminIdentity>{{"hub.azure-devices.net", "canary", ""}}),
        IsOk());
    EXPECT_FALSE(store.Snapshot()->Find("hub.azure-devices.net", "canary", ""));
    EXPECT_EQ(CountInMemory(masked_b), 0) << "an admin-deleted key outlived its deletion";
  }
  EXPECT_EQ(CountInMemory(masked_a), 0);
  EXPECT_EQ(CountInMemory(masked_b), 0);
}

TEST(SecretHygieneTest, KeyRecordsLiveInLockedNonDumpedMemory) {
  IdentityTable table;
  IdentityKeys keys;
  keys.primary.emplace(HmacKey::FromBytes(std::vector<uint8_t>(32, 7)));
  ASSERT_THAT(table.Add("hub.azure-devices.net", "d", "", keys), IsOk());
  const SecureMemoryStats stats = KeyMemoryStats();
  EXPECT_GT(stats.bytes_mapped, 0u);
  EXPECT_EQ(stats.dontdump_failures, 0u);
  // Root (or CAP_IPC_LOCK) can lock; otherwise the failure is counted, not fatal.
  EXPECT_EQ(stats.bytes_locked + stats.lock_failures > 0, true);
}

}  // namespace
}  // namespace sasmint
