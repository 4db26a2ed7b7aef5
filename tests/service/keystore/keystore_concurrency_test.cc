// Readers and a writer on one KeyStore at once: readers (through Pin and through Snapshot) must
// always see one whole, consistent table while a writer publishes new ones and frees the old,
// and must never wait for the writer. Built and run under ThreadSanitizer in CI (.ci/run), where
// any unsynchronized access between the readers and the table's release is reported as a race.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/keystore/key_store.h"
#include "signer/hmac_sha256.h"

namespace sasmint {
namespace {

constexpr char kHub[] = "hub.azure-devices.net";
constexpr int kIdentities = 2000;

HmacKey KeyFor(uint32_t generation, int device) {
  const std::string bytes = absl::StrCat("generation-", generation, "-device-", device, "-key");
  return HmacKey::FromBytes(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::string DeviceId(int device) { return absl::StrCat("device-", device); }

// Table returns generation `g`: every identity's version is g and its primary key is KeyFor(g,
// device), so a reader can tell whether what it read belongs to one table.
std::shared_ptr<const IdentityTable> Table(uint32_t g) {
  auto table = std::make_shared<IdentityTable>();
  for (int d = 0; d < kIdentities; ++d) {
    IdentityKeys keys;
    keys.primary = KeyFor(g, d);
    keys.secondary = KeyFor(g + 1000000, d);
    keys.version = g;
    EXPECT_TRUE(table->Add(kHub, DeviceId(d), "", keys).ok());
  }
  table->Compact();
  return table;
}

TEST(KeyStoreConcurrencyTest, ReadersSeeWholeTablesWhileAWriterPublishes) {
  constexpr uint32_t kGenerations = 40;
  constexpr int kProbe = 7;  // the identity whose key readers sign with
  const std::string message = "hub.azure-devices.net%2Fdevices%2Fdevice-7\n1700000000";
  const auto span =
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(message.data()), message.size());
  // The MAC of one message under each generation's key of the probe, computed up front.
  std::vector<Mac> expected;
  for (uint32_t g = 0; g <= kGenerations; ++g) expected.push_back(KeyFor(g, kProbe).Sign(span));
  // Tables are built before the race starts so that building (single-threaded) is not what the
  // test measures; the writer then publishes them in turn and drops each old one.
  std::vector<std::shared_ptr<const IdentityTable>> tables;
  for (uint32_t g = 0; g <= kGenerations; ++g) tables.push_back(Table(g));

  KeyStore store;
  store.Publish(tables[0]);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> inconsistent{0};

  auto reader = [&](bool use_pin, int seed) {
    uint32_t last_generation = 0;
    int device = seed;
    while (!done.load(std::memory_order_relaxed)) {
      device = (device * 31 + 17) % kIdentities;
      auto check = [&](const IdentityTable& table) {
        const IdentityRef probe = table.Find(kHub, DeviceId(kProbe), "");
        const IdentityRef other = table.Find(kHub, DeviceId(device), "");
        if (!probe || !other) {
          inconsistent.fetch_add(1);
          return;
        }
        const uint32_t g = probe.version();
        // One table: both identities carry its generation, and the key signs as that
        // generation's key. Generations only move forward.
        if (other.version() != g || g < last_generation || g > kGenerations ||
            probe.key(KeySlot::kPrimary)->Sign(span) != expected[g]) {
          inconsistent.fetch_add(1);
        }
        last_generation = g;
      };
      if (use_pin) {
        const KeyStore::Pin pin(store);
        check(*pin.table());
      } else {
        const std::shared_ptr<const IdentityTable> snapshot = store.Snapshot();
        check(*snapshot);
      }
      reads.fetch_add(1, std::memory_order_relaxed);
    }
  };

  std::thread pin_reader(reader, true, 1);
  std::thread snapshot_reader(reader, false, 2);
  std::thread writer([&] {
    for (uint32_t g = 1; g <= kGenerations; ++g) {
      std::shared_ptr<const IdentityTable> next = std::move(tables[g]);
      store.Publish(std::move(next));  // the store now holds the only reference to it
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  writer.join();
  // Let the readers run a little on the last table too.
  const uint64_t at_end = reads.load();
  while (reads.load() < at_end + 100) std::this_thread::yield();
  done = true;
  pin_reader.join();
  snapshot_reader.join();

  EXPECT_EQ(inconsistent.load(), 0u);
  EXPECT_GT(reads.load(), 100u);
  const KeyStore::Pin pin(store);
  EXPECT_EQ(pin.table()->Find(kHub, DeviceId(0), "").version(), kGenerations);
}

TEST(KeyStoreConcurrencyTest, PinsNestAndSeeNothingBeforeTheFirstPublish) {
  KeyStore store;
  {
    const KeyStore::Pin pin(store);
    EXPECT_EQ(pin.table(), nullptr);
  }
  auto table = Table(3);
  const IdentityTable* raw = table.get();
  store.Publish(std::move(table));
  const KeyStore::Pin outer(store);
  {
    const KeyStore::Pin inner(store);
    EXPECT_EQ(inner.table(), raw);
  }
  EXPECT_EQ(outer.table(), raw);
  EXPECT_EQ(outer.table()->Find(kHub, DeviceId(5), "").version(), 3u);
}

TEST(KeyStoreConcurrencyTest, PublishWaitsForPinsOfTheTableItReplaces) {
  KeyStore store;
  store.Publish(Table(1));
  std::atomic<bool> pinned{false};
  std::atomic<bool> release{false};
  std::atomic<bool> still_readable{false};
  std::thread reader([&] {
    const KeyStore::Pin pin(store);
    pinned = true;
    while (!release.load()) std::this_thread::yield();
    // The writer has been publishing meanwhile; the pinned table must still be intact.
    still_readable = pin.table()->Find(kHub, DeviceId(1), "").version() == 1;
  });
  while (!pinned.load()) std::this_thread::yield();
  std::shared_ptr<const IdentityTable> next = Table(2);
  const IdentityTable* const next_raw = next.get();
  std::atomic<bool> published{false};
  std::thread writer([&] {
    store.Publish(std::move(next));
    published = true;
  });
  // The writer swaps the table in at once, then waits for the pin on the old one.
  while (store.Snapshot().get() != next_raw) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(published.load()) << "Publish returned while a pin still read the old table";
  // A new reader is not blocked by the waiting writer: it sees the new table at once.
  {
    const KeyStore::Pin fresh(store);
    EXPECT_EQ(fresh.table()->Find(kHub, DeviceId(1), "").version(), 2u);
  }
  release = true;
  reader.join();
  writer.join();
  EXPECT_TRUE(still_readable.load());
  EXPECT_TRUE(published.load());
}

}  // namespace
}  // namespace sasmint
