// sha256_kernel_benchmark: raw SHA-256 compression throughput of every lane kernel.
//
//   BM_Compress/<isa>/lanes:<n>            one 64-byte block per lane per call (the HMAC shape)
//   BM_Compress/<isa>/lanes:<n>/chained    the same, each call depending on the previous one
//   BM_Compress/<isa>/lanes:<n>/blocks:4   four chained blocks per lane per call
//   BM_CompressWords/<isa>/lanes:<n>       one block per lane given as host-order SoA words
//   BM_Compress/avx512_gather/lanes:16...  the AVX-512 kernel loading blocks with vpgatherqd
//
// items_per_second counts block compressions (lanes x blocks per call); ns_per_block is its
// inverse, and cycles_per_block that times the clock measured at start-up (context
// "estimated_ghz"), which makes runs on a shared, frequency-scaled machine comparable (the
// console shows both with an "s" suffix: the reporter's unit for inverted rates). Kernels this
// CPU lacks are reported as errors ("this CPU lacks ...").
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/sha256_kernel.h"
#include "signer/sha256.h"

namespace sasmint::internal {
namespace {

// Lanes holds per-lane block buffers (separate allocations, like separate jobs) and
// kStateSets independent SoA states, 64-byte aligned. Rotating through the sets lets one call
// overlap the next, as independent groups do in a batch signer; "chained" runs use one set, so
// each call waits for the previous one's result.
constexpr int kStateSets = 4;

struct Lanes {
  Lanes(int lanes, size_t num_blocks) : buffers(lanes) {
    for (int lane = 0; lane < lanes; ++lane) {
      buffers[lane].resize(num_blocks * kSha256BlockSize);
      for (size_t i = 0; i < buffers[lane].size(); ++i) {
        buffers[lane][i] = static_cast<uint8_t>(i * 131 + lane * 7 + 1);
      }
      ptrs[lane] = buffers[lane].data();
      for (int set = 0; set < kStateSets; ++set) {
        for (int w = 0; w < 8; ++w) state[set][w * lanes + lane] = kSha256InitialState[w] + set;
      }
    }
    for (int i = 0; i < 16 * lanes; ++i) words[i] = 0x9e3779b9u * (i + 1);
  }
  std::vector<std::vector<uint8_t>> buffers;
  const uint8_t* ptrs[kSha256MaxLanes] = {};
  alignas(64) uint32_t state[kStateSets][8 * kSha256MaxLanes] = {};
  alignas(64) uint32_t words[16 * kSha256MaxLanes] = {};
};

// EstimateGhz times a chain of dependent 64-bit multiplies (3 cycles each on Intel cores since
// Nehalem and on AMD Zen). Returns 0 where it cannot measure.
double EstimateGhz() {
#if defined(__x86_64__)
  constexpr uint64_t kMultiplies = 60'000'000;
  double best_ns = 0;
  for (int rep = 0; rep < 3; ++rep) {
    uint64_t x = 3, n = kMultiplies;
    const auto start = std::chrono::steady_clock::now();
    __asm__ volatile(
        "1: imul %0, %0\n imul %0, %0\n imul %0, %0\n imul %0, %0\n sub $4, %1\n jnz 1b"
        : "+r"(x), "+r"(n));
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    if (rep == 0 || ns < best_ns) best_ns = ns;
  }
  return 3.0 * kMultiplies / best_ns;
#else
  return 0;
#endif
}

double Ghz() {
  static const double ghz = EstimateGhz();
  return ghz;
}

void SetCounters(benchmark::State& state, int64_t blocks_per_call) {
  const auto kPerBlock = benchmark::Counter::kIsRate | benchmark::Counter::kInvert;
  const double blocks = static_cast<double>(state.iterations()) * blocks_per_call;
  state.SetItemsProcessed(static_cast<int64_t>(blocks));
  state.counters["ns_per_block"] = benchmark::Counter(blocks * 1e-9, kPerBlock);
  if (Ghz() > 0) {
    state.counters["cycles_per_block"] = benchmark::Counter(blocks * 1e-9 / Ghz(), kPerBlock);
  }
}

bool SkipUnsupported(benchmark::State& state, Isa isa) {
  if (IsaSupported(isa)) return false;
  state.SkipWithError(
      absl::StrCat("this CPU lacks ", IsaName(isa), " (",
                   CpuFeaturesToString(RequiredFeatures(isa) & ~DetectCpuFeatures()), ")")
          .c_str());
  return true;
}

void BM_Compress(benchmark::State& state, Isa isa, int lanes, Sha256CompressFn compress,
                 size_t num_blocks, bool chained) {
  if (SkipUnsupported(state, isa)) return;
  Lanes in(lanes, num_blocks);
  const int sets = chained ? 1 : kStateSets;
  int set = 0;
  for (auto _ : state) {
    compress(in.state[set], in.ptrs, num_blocks);
    if (++set == sets) set = 0;
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(in.state);
  SetCounters(state, static_cast<int64_t>(lanes * num_blocks));
}

void BM_CompressWords(benchmark::State& state, Isa isa, int lanes,
                      Sha256CompressWordsFn compress_words) {
  if (SkipUnsupported(state, isa)) return;
  Lanes in(lanes, 1);
  int set = 0;
  for (auto _ : state) {
    compress_words(in.state[set], in.words);
    if (++set == kStateSets) set = 0;
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(in.state);
  SetCounters(state, lanes);
}

void RegisterAll() {
  const auto add = [](const std::string& name, Isa isa, int lanes, Sha256CompressFn fn) {
    benchmark::RegisterBenchmark(name.c_str(), BM_Compress, isa, lanes, fn, size_t{1}, false);
    benchmark::RegisterBenchmark((name + "/chained").c_str(), BM_Compress, isa, lanes, fn,
                                 size_t{1}, true);
    benchmark::RegisterBenchmark((name + "/blocks:4").c_str(), BM_Compress, isa, lanes, fn,
                                 size_t{4}, false);
  };
  for (const Sha256LaneKernel& k : Sha256LaneKernels()) {
    const std::string suffix = absl::StrCat(IsaName(k.isa), "/lanes:", k.lanes);
    add(absl::StrCat("BM_Compress/", suffix), k.isa, k.lanes, k.compress);
    benchmark::RegisterBenchmark(absl::StrCat("BM_CompressWords/", suffix).c_str(),
                                 BM_CompressWords, k.isa, k.lanes, k.compress_words);
  }
  add("BM_Compress/avx512_gather/lanes:16", Isa::kAvx512, 16, &Sha256CompressX16Avx512Gather);
}

}  // namespace
}  // namespace sasmint::internal

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  sasmint::internal::RegisterAll();
  benchmark::AddCustomContext("sasmint_cpu_features", sasmint::internal::CpuFeaturesToString(
                                                          sasmint::internal::DetectCpuFeatures()));
  benchmark::AddCustomContext(
      "sasmint_best_isa", std::string(sasmint::internal::IsaName(sasmint::internal::BestIsa())));
  benchmark::AddCustomContext("estimated_ghz", std::to_string(sasmint::internal::Ghz()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
