// keystore_benchmark: the key store at fleet scale (issue 5): loading IoT Hub export files,
// memory per identity, and lookups while another thread publishes new snapshots.
//
//   build/bench/keystore_benchmark --benchmark_min_time=0.5
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "service/keystore/export_loader.h"
#include "service/keystore/key_store.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

constexpr char kHub[] = "bench.azure-devices.net";

std::string DeviceId(size_t i) {
  return absl::StrCat("device-", i, "-", (i * 2654435761u) % 99991);
}

// ExportText returns an export file of `n` identities with random primary and secondary keys.
std::string ExportText(size_t n) {
  std::mt19937_64 rng(42);
  std::string text;
  text.reserve(n * 250);
  uint8_t key[32];
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&text, R"({"id":")", DeviceId(i),
                    R"(","status":"enabled","authentication":{"symmetricKey":{"primaryKey":")");
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    text += Base64Encode(key);
    text += R"(","secondaryKey":")";
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    text += Base64Encode(key);
    text += "\"}}}\n";
  }
  return text;
}

std::shared_ptr<const IdentityTable> Table(size_t n) {
  auto table = std::make_shared<IdentityTable>();
  if (!LoadExportText(ExportText(n), "bench", kHub, table.get()).ok()) abort();
  table->Compact();
  return table;
}

size_t RssBytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr || fscanf(f, "%ld %ld", &pages, &resident) != 2) abort();
  fclose(f);
  return static_cast<size_t>(resident) * sysconf(_SC_PAGESIZE);
}

// BM_LoadExport: identities per second, parsing, base64, key midstates and inserts included.
void BM_LoadExport(benchmark::State& state) {
  const size_t n = state.range(0);
  const std::string text = ExportText(n);
  for (auto _ : state) {
    IdentityTable table;
    if (!LoadExportText(text, "bench", kHub, &table).ok()) abort();
    benchmark::DoNotOptimize(table.size());
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_LoadExport)->Arg(100000)->Unit(benchmark::kMillisecond);

// BM_MemoryPerIdentity: process RSS growth from 1M to 2M identities (both keys), and the
// table's own accounting.
void BM_MemoryPerIdentity(benchmark::State& state) {
  for (auto _ : state) {
    const size_t before = RssBytes();
    auto one = Table(1000000);
    const size_t at_one = RssBytes();
    auto two = Table(2000000);
    const size_t at_two = RssBytes();
    // The 2M table is built while the 1M one lives: its growth is 2M identities' worth.
    state.counters["rss_bytes_per_identity_2M"] = static_cast<double>(at_two - at_one) / 2e6;
    state.counters["table_bytes_per_identity"] =
        static_cast<double>(two->IdentityMemoryBytes()) / 2000000.0;
    state.counters["rss_growth_first_1M_bytes_per_identity"] =
        static_cast<double>(at_one - before) / 1000000.0;
  }
}
BENCHMARK(BM_MemoryPerIdentity)->Iterations(1)->Unit(benchmark::kMillisecond);

// BM_Lookup: Find in a table of 1M identities in random order, by `threads` readers, while a
// writer thread publishes a new snapshot every millisecond (readers never wait for it).
std::shared_ptr<const IdentityTable>* g_table = nullptr;
KeyStore* g_store = nullptr;
std::atomic<bool> g_stop{false};
std::thread* g_writer = nullptr;

void BM_Lookup(benchmark::State& state) {
  if (state.thread_index() == 0) {
    if (g_table == nullptr) g_table = new std::shared_ptr<const IdentityTable>(Table(1000000));
    g_store = new KeyStore();
    g_store->Publish(*g_table);
    g_stop = false;
    g_writer = new std::thread([] {
      while (!g_stop.load()) {
        g_store->Publish(*g_table);  // a new snapshot pointer, as a reload publishes
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  std::mt19937_64 rng(state.thread_index() + 1);
  std::vector<std::string> ids(4096);
  for (auto& id : ids) id = DeviceId(rng() % 1000000);
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const std::shared_ptr<const IdentityTable> snapshot = g_store->Snapshot();
    found += static_cast<bool>(snapshot->Find(kHub, ids[i++ & 4095], ""));
  }
  if (found == 0) abort();
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_stop = true;
    g_writer->join();
    delete g_writer;
    delete g_store;
  }
}
BENCHMARK(BM_Lookup)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace sasmint

BENCHMARK_MAIN();
