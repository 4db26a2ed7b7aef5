// keystore_benchmark: the key store at fleet scale: loading IoT Hub export files,
// memory per identity, and lookups while another thread publishes new snapshots.
//
//   build/bench/keystore_benchmark --benchmark_min_time=0.5
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
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

// BM_LoadExport: identities per second, parsing, base64, key midstates and inserts included
// (freeing the table afterwards is not).
void BM_LoadExport(benchmark::State& state) {
  const size_t n = state.range(0);
  const std::string text = ExportText(n);
  for (auto _ : state) {
    auto table = std::make_unique<IdentityTable>();
    if (!LoadExportText(text, "bench", kHub, table.get()).ok()) abort();
    benchmark::DoNotOptimize(table->size());
    // Freeing (and wiping) the table is not loading: keep it out of the time.
    state.PauseTiming();
    table.reset();
    state.ResumeTiming();
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

// BM_Lookup/N: Find in a table of N identities (10k: cache-resident; 1M: fleet-sized, every
// lookup misses the cache) in random order, by `threads` readers, while a writer thread
// publishes a new snapshot every millisecond (readers never wait for it). Each lookup takes a
// KeyStore::Pin (as the unary path does); BM_LookupSnapshot takes a shared_ptr Snapshot instead,
// for comparison. The `median_ns` counter is the median of single lookups timed with rdtsc
// (converted with the measured TSC rate), since the target is a median. BM_MemoryLatency, in the
// same run, is the floor: one dependent load from a random line of 256 MiB (a lookup reads one
// line, two when the identity sits past its home slot).
const IdentityTable& CachedTable(size_t n) {
  static auto* const tables = new std::map<size_t, std::shared_ptr<const IdentityTable>>();
  auto& table = (*tables)[n];
  if (table == nullptr) table = Table(n);
  return *table;
}
std::shared_ptr<const IdentityTable>* g_table = nullptr;
KeyStore* g_store = nullptr;
std::atomic<bool> g_stop{false};
std::thread* g_writer = nullptr;

void StartWriter(size_t n) {
  // An aliasing shared_ptr: the store shares the cached table without owning it.
  g_table = new std::shared_ptr<const IdentityTable>(std::shared_ptr<const IdentityTable>(),
                                                     &CachedTable(n));
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

void StopWriter() {
  g_stop = true;
  g_writer->join();
  delete g_writer;
  delete g_store;
  delete g_table;
}

// RandomIds holds 2^20 IDs drawn at random from a table of `n` identities, packed in fixed 32-byte
// cells read in order: lookups must miss the cache as they would in a fleet (a few thousand
// repeated IDs would stay cached), while reading the ID itself, which a request brings in the
// cache, must not.
class RandomIds {
 public:
  static constexpr size_t kCount = 1 << 20;
  static constexpr size_t kCell = 32;

  RandomIds(uint64_t seed, size_t n) : text_(kCount * kCell, '\0'), sizes_(kCount) {
    std::mt19937_64 rng(seed);
    for (size_t k = 0; k < kCount; ++k) {
      const std::string id = DeviceId(rng() % n);
      if (id.size() > kCell) abort();
      std::memcpy(&text_[k * kCell], id.data(), id.size());
      sizes_[k] = static_cast<uint8_t>(id.size());
    }
  }
  absl::string_view operator[](size_t i) const {
    i &= kCount - 1;
    return absl::string_view(&text_[i * kCell], sizes_[i]);
  }

 private:
  std::string text_;
  std::vector<uint8_t> sizes_;
};

// Ticks reads the time stamp counter (steady_clock nanoseconds where there is none).
uint64_t Ticks() {
#if defined(__x86_64__)
  // lfence on both sides: rdtsc is not ordered with loads, so without them the second read can
  // execute before the lookup's cache misses complete (out of order), and report far too little.
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
#else
  return std::chrono::steady_clock::now().time_since_epoch().count();
#endif
}

double TscNanosPerTick() {
  static const double ratio = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = Ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t c1 = Ticks();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
  }();
  return ratio;
}

template <bool kPin>
void LookupLoop(benchmark::State& state) {
  if (state.thread_index() == 0) StartWriter(state.range(0));
  const RandomIds ids(state.thread_index() + 1, state.range(0));
  std::vector<uint32_t> ticks;
  ticks.reserve(1 << 20);
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const absl::string_view device_id = ids[i++];
    const uint64_t t0 = Ticks();
    if constexpr (kPin) {
      const KeyStore::Pin pin(*g_store);
      found += static_cast<bool>(pin.table()->Find(kHub, device_id, ""));
    } else {
      const std::shared_ptr<const IdentityTable> snapshot = g_store->Snapshot();
      found += static_cast<bool>(snapshot->Find(kHub, device_id, ""));
    }
    if (ticks.size() < ticks.capacity()) ticks.push_back(static_cast<uint32_t>(Ticks() - t0));
  }
  if (found == 0) abort();
  state.SetItemsProcessed(state.iterations());
  if (!ticks.empty()) {
    std::nth_element(ticks.begin(), ticks.begin() + ticks.size() / 2, ticks.end());
    state.counters["median_ns"] = benchmark::Counter(ticks[ticks.size() / 2] * TscNanosPerTick(),
                                                     benchmark::Counter::kAvgThreads);
  }
  if (state.thread_index() == 0) StopWriter();
}

void BM_Lookup(benchmark::State& state) { LookupLoop<true>(state); }
BENCHMARK(BM_Lookup)->Arg(10000)->Arg(1000000)->Threads(1)->Threads(2)->UseRealTime();
void BM_LookupSnapshot(benchmark::State& state) { LookupLoop<false>(state); }
BENCHMARK(BM_LookupSnapshot)->Arg(1000000)->Threads(1)->Threads(2)->UseRealTime();

// BM_MemoryLatency: a pointer chase through random cache lines of 256 MiB (2 MiB pages, as the
// key store's large arrays use): the cost of one dependent cache miss on this machine, which
// bounds a lookup of a random identity from below (Find reads the identity's hot line).
void BM_MemoryLatency(benchmark::State& state) {
  constexpr size_t kBytes = size_t{256} << 20;
  constexpr size_t kLines = kBytes / 64;
  static uint64_t* const memory = [] {
    auto* m = static_cast<uint64_t*>(std::aligned_alloc(size_t{2} << 20, kBytes));
    madvise(m, kBytes, MADV_HUGEPAGE);
    std::vector<uint32_t> order(kLines);
    for (uint32_t k = 0; k < kLines; ++k) order[k] = k;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
    for (size_t k = 0; k < kLines; ++k) m[order[k] * 8] = order[(k + 1) % kLines] * 8;
    return m;
  }();
  uint64_t at = 0;
  for (auto _ : state) at = memory[at];
  benchmark::DoNotOptimize(at);
}
BENCHMARK(BM_MemoryLatency);

// BM_FindOnly: Find in the same table with the table held (no Pin or Snapshot per lookup), and
// no writer; `median_ns` as in BM_Lookup. The argument splits a lookup's time: /1 is Find
// (hash, probe, compare); /2 is Find given the hash (the memory part alone); /0 times the loop
// without a Find (ID read and the two time stamps: the timer's own share of every median_ns).
void BM_FindOnly(benchmark::State& state) {
  const IdentityTable& table = CachedTable(1000000);
  const RandomIds ids(state.thread_index() + 1, 1000000);
  std::vector<uint64_t> hashes(RandomIds::kCount);
  for (size_t k = 0; k < hashes.size(); ++k) {
    hashes[k] = IdentityTable::IdentityHash(kHub, ids[k], "");
  }
  const int64_t mode = state.range(0);
  std::vector<uint32_t> ticks;
  ticks.reserve(1 << 20);
  size_t i = 0, found = 0;
  for (auto _ : state) {
    const absl::string_view device_id = ids[i];
    const uint64_t hash = hashes[i++ & (RandomIds::kCount - 1)];
    const uint64_t t0 = Ticks();
    if (mode == 1) {
      found += static_cast<bool>(table.Find(kHub, device_id, ""));
    } else if (mode == 2) {
      found += static_cast<bool>(table.Find(kHub, device_id, "", hash));
    } else {
      found += device_id.size() + (hash & 1);
    }
    if (ticks.size() < ticks.capacity()) ticks.push_back(static_cast<uint32_t>(Ticks() - t0));
  }
  if (found == 0) abort();
  std::nth_element(ticks.begin(), ticks.begin() + ticks.size() / 2, ticks.end());
  state.counters["median_ns"] = benchmark::Counter(ticks[ticks.size() / 2] * TscNanosPerTick(),
                                                   benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_FindOnly)->Arg(1)->Arg(2)->Arg(0)->Threads(1)->Threads(2)->UseRealTime();

// BM_IdentityHash: the lookup hash of one identity (about 45 bytes hashed).
void BM_IdentityHash(benchmark::State& state) {
  std::vector<std::string> ids(4096);
  for (size_t k = 0; k < ids.size(); ++k) ids[k] = DeviceId(k);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(IdentityTable::IdentityHash(kHub, ids[i++ & 4095], ""));
  }
}
BENCHMARK(BM_IdentityHash);

}  // namespace
}  // namespace sasmint

BENCHMARK_MAIN();
