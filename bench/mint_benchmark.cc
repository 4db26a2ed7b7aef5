// mint_benchmark: the batch pipeline (service/mint's BatchMinter) alone, without gRPC: tokens
// per second for 1,000-item batches of random device identities, against tables of 10,000
// (keys in cache) and 1,000,000 identities (a DRAM miss per lookup), beside the Minter minting
// the same items one at a time. The gap between this and sasmint-bench's batch:1000 run is what
// gRPC and protobuf cost.
//
//   build/bench/mint_benchmark --benchmark_min_time=0.5
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "service/authz/authorizer.h"
#include "service/keystore/key_store.h"
#include "service/mint/batch_minter.h"
#include "service/mint/minter.h"

namespace sasmint {
namespace {

constexpr char kHub[] = "bench.azure-devices.net";

std::string DeviceId(size_t i) {
  return absl::StrCat("device-", i, "-", (i * 2654435761u) % 99991);
}

// Fleet is a table of `n` identities with random keys, and their names.
struct Fleet {
  std::shared_ptr<IdentityTable> table = std::make_shared<IdentityTable>();
  std::vector<std::string> devices;
};

const Fleet& FleetOf(size_t n) {
  static auto* fleets = new std::map<size_t, std::unique_ptr<Fleet>>();
  std::unique_ptr<Fleet>& fleet = (*fleets)[n];
  if (fleet != nullptr) return *fleet;
  fleet = std::make_unique<Fleet>();
  std::mt19937_64 rng(42);
  fleet->table->ReserveIdentities(n);
  uint8_t key[32];
  for (size_t i = 0; i < n; ++i) {
    fleet->devices.push_back(DeviceId(i));
    IdentityKeys keys;
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    keys.primary = HmacKey::FromBytes(key);
    if (!fleet->table->Add(kHub, fleet->devices.back(), "", keys).ok()) abort();
  }
  fleet->table->Compact();
  return *fleet;
}

// Batches returns `count` batches of `size` random identities of the fleet.
std::vector<std::vector<MintItem>> Batches(const Fleet& fleet, size_t count, size_t size) {
  std::mt19937_64 rng(7);
  std::vector<std::vector<MintItem>> out(count);
  for (auto& batch : out) {
    for (size_t i = 0; i < size; ++i) {
      batch.push_back(MintItem::Identity(kHub, fleet.devices[rng() % fleet.devices.size()]));
    }
  }
  return out;
}

Minter& TheMinter() {
  static Minter* minter = new Minter(MintOptions{}, *BatchSigner::Best());
  return *minter;
}

// BM_BatchMint/identities:<n>/batch:<size>: BatchMinter::Mint; items_per_second are tokens.
void BM_BatchMint(benchmark::State& state) {
  const Fleet& fleet = FleetOf(state.range(0));
  const size_t size = state.range(1);
  const auto batches = Batches(fleet, 64, size);
  const BatchMinter minter(&TheMinter());
  std::vector<MintOutcome> outcomes(size);
  MintScratch scratch;
  Denials denials;
  size_t b = 0;
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  for (auto _ : state) {
    minter.Mint(*fleet.table, now, Authorizer::Unrestricted(), batches[b++ % batches.size()],
                absl::MakeSpan(outcomes), &scratch, &denials);
    benchmark::DoNotOptimize(outcomes.back().token.data());
  }
  if (!outcomes.front().status.ok()) state.SkipWithError("mint failed");
  state.SetItemsProcessed(state.iterations() * size);
}
BENCHMARK(BM_BatchMint)
    ->ArgNames({"identities", "batch"})
    ->Args({10000, 1000})
    ->Args({1000000, 1000})
    ->Args({10000, 1});

// BM_MintOneByOne/identities:<n>: the same items through Minter::Mint, one token per call (no
// look-ahead): the baseline the pipeline is measured against.
void BM_MintOneByOne(benchmark::State& state) {
  const Fleet& fleet = FleetOf(state.range(0));
  const auto batches = Batches(fleet, 64, 1000);
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  size_t b = 0;
  for (auto _ : state) {
    for (const MintItem& item : batches[b++ % batches.size()]) {
      MintRequest request{item.ToScope(), 0, KeySlot::kActive};
      absl::StatusOr<MintedToken> token = TheMinter().Mint(*fleet.table, request, now);
      benchmark::DoNotOptimize(token);
    }
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_MintOneByOne)->ArgNames({"identities"})->Arg(10000)->Arg(1000000);

}  // namespace
}  // namespace sasmint

BENCHMARK_MAIN();
