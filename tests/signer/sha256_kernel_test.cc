// One suite, run against every SHA-256 lane kernel compiled in (kernels this CPU lacks are
// skipped with a message; the portable ones never are), plus the CPU dispatch tests.
//
// Randomized tests print their seed (test_seed.h); rerun with SASMINT_TEST_SEED=<seed>.
#include "signer/internal/sha256_kernel.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/cpu_features.h"
#include "signer/secret_bytes.h"
#include "signer/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_seed.h"

namespace sasmint::internal {

// gtest prints the kernel's name for GetParam(), not its address (found by ADL, so it lives
// outside the anonymous namespace).
void PrintTo(const Sha256LaneKernel* kernel, std::ostream* os) { *os << kernel->name; }

namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::sasmint::testing::TestSeed;
using ::testing::HasSubstr;

constexpr size_t kBlock = kSha256BlockSize;

void FillRandom(std::mt19937_64& rng, absl::Span<uint8_t> out) {
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
}

Sha256State RandomState(std::mt19937_64& rng) {
  Sha256State s;
  for (uint32_t& w : s) w = static_cast<uint32_t>(rng());
  return s;
}

// LaneInput holds one lane's chaining value and its blocks, placed at a chosen misalignment.
struct LaneInput {
  Sha256State state;
  std::vector<uint8_t> storage;
  size_t offset = 0;
  const uint8_t* blocks() const { return storage.data() + offset; }
  uint8_t* mutable_blocks() { return storage.data() + offset; }
};

std::vector<LaneInput> RandomInputs(std::mt19937_64& rng, int lanes, size_t num_blocks) {
  std::vector<LaneInput> in(lanes);
  for (LaneInput& l : in) {
    l.state = RandomState(rng);
    l.offset = rng() % 64;  // The kernels accept any block alignment.
    l.storage.resize(l.offset + num_blocks * kBlock);
    FillRandom(rng, absl::MakeSpan(l.storage));
  }
  return in;
}

// RunKernel returns each lane's new chaining value after `kernel` hashed its blocks.
std::vector<Sha256State> RunKernel(const Sha256LaneKernel& kernel, const std::vector<LaneInput>& in,
                                   size_t num_blocks) {
  const int lanes = kernel.lanes;
  alignas(64) uint32_t soa[8 * kSha256MaxLanes];
  const uint8_t* ptrs[kSha256MaxLanes] = {};
  for (int lane = 0; lane < lanes; ++lane) {
    for (int w = 0; w < 8; ++w) soa[w * lanes + lane] = in[lane].state[w];
    ptrs[lane] = in[lane].blocks();
  }
  kernel.compress(soa, ptrs, num_blocks);
  std::vector<Sha256State> out(lanes);
  for (int lane = 0; lane < lanes; ++lane) {
    for (int w = 0; w < 8; ++w) out[lane][w] = soa[w * lanes + lane];
  }
  return out;
}

std::vector<Sha256State> Reference(const std::vector<LaneInput>& in, size_t num_blocks) {
  std::vector<Sha256State> out;
  for (const LaneInput& l : in) {
    Sha256State s = l.state;
    Sha256CompressBlocks(s, l.blocks(), num_blocks);
    out.push_back(s);
  }
  return out;
}

class Sha256KernelTest : public ::testing::TestWithParam<const Sha256LaneKernel*> {
 protected:
  void SetUp() override {
    if (!IsaSupported(kernel().isa)) {
      GTEST_SKIP() << "kernel " << kernel().name << " needs ISA " << IsaName(kernel().isa) << " ("
                   << CpuFeaturesToString(RequiredFeatures(kernel().isa))
                   << "), which this CPU lacks; usable features: "
                   << CpuFeaturesToString(DetectCpuFeatures());
    }
    rng_.seed(TestSeed());
  }
  const Sha256LaneKernel& kernel() const { return *GetParam(); }
  int lanes() const { return kernel().lanes; }

  std::mt19937_64 rng_;
};

TEST_P(Sha256KernelTest, RandomMidstatesAndBlocksMatchPortable) {
  for (int rep = 0; rep < 100; ++rep) {
    const std::vector<LaneInput> in = RandomInputs(rng_, lanes(), 1);
    ASSERT_EQ(RunKernel(kernel(), in, 1), Reference(in, 1)) << "rep " << rep;
  }
}

TEST_P(Sha256KernelTest, AllLanesSameInput) {
  std::vector<LaneInput> in = RandomInputs(rng_, lanes(), 1);
  for (LaneInput& l : in) l = in[0];  // Same state, same bytes (copies).
  std::vector<Sha256State> want = Reference(in, 1);
  EXPECT_EQ(RunKernel(kernel(), in, 1), want);

  // Same pointer in every lane (aliasing inputs are allowed).
  const int lanes_n = lanes();
  alignas(64) uint32_t soa[8 * kSha256MaxLanes];
  const uint8_t* ptrs[kSha256MaxLanes] = {};
  for (int lane = 0; lane < lanes_n; ++lane) {
    for (int w = 0; w < 8; ++w) soa[w * lanes_n + lane] = in[0].state[w];
    ptrs[lane] = in[0].blocks();
  }
  kernel().compress(soa, ptrs, 1);
  for (int lane = 0; lane < lanes_n; ++lane) {
    for (int w = 0; w < 8; ++w) EXPECT_EQ(soa[w * lanes_n + lane], want[0][w]) << lane;
  }
}

TEST_P(Sha256KernelTest, KnownAnswerAbcInEveryLane) {
  // FIPS 180-4 example "abc" (one block): ba7816bf 8f01cfea ... f20015ad.
  std::array<uint8_t, kBlock> block{};
  block[0] = 'a';
  block[1] = 'b';
  block[2] = 'c';
  block[3] = 0x80;
  block[63] = 24;
  std::vector<LaneInput> in(lanes());
  for (LaneInput& l : in) {
    l.state = kSha256InitialState;
    l.storage.assign(block.begin(), block.end());
  }
  const Sha256State want = {0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223,
                            0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad};
  for (const Sha256State& got : RunKernel(kernel(), in, 1)) EXPECT_EQ(got, want);
}

TEST_P(Sha256KernelTest, LaneIndependence) {
  std::vector<LaneInput> in = RandomInputs(rng_, lanes(), 1);
  const std::vector<Sha256State> base = RunKernel(kernel(), in, 1);
  ASSERT_EQ(base, Reference(in, 1));
  for (int changed = 0; changed < lanes(); ++changed) {
    // A one-bit change in this lane's block changes this lane only.
    std::vector<LaneInput> mod = in;
    mod[changed].mutable_blocks()[rng_() % kBlock] ^= uint8_t{1} << (rng_() % 8);
    std::vector<Sha256State> got = RunKernel(kernel(), mod, 1);
    for (int lane = 0; lane < lanes(); ++lane) {
      if (lane == changed) {
        EXPECT_NE(got[lane], base[lane]) << "lane " << lane;
        EXPECT_EQ(got[lane], Reference({mod[lane]}, 1)[0]) << "lane " << lane;
      } else {
        EXPECT_EQ(got[lane], base[lane])
            << "block of lane " << changed << " leaked into lane " << lane;
      }
    }
    // Likewise for its chaining value.
    mod = in;
    mod[changed].state[rng_() % 8] ^= uint32_t{1} << (rng_() % 32);
    got = RunKernel(kernel(), mod, 1);
    for (int lane = 0; lane < lanes(); ++lane) {
      if (lane == changed) {
        EXPECT_NE(got[lane], base[lane]) << "lane " << lane;
      } else {
        EXPECT_EQ(got[lane], base[lane])
            << "state of lane " << changed << " leaked into lane " << lane;
      }
    }
  }
}

TEST_P(Sha256KernelTest, MultiBlockChains) {
  for (size_t num_blocks : {0, 1, 2, 3, 4, 7, 16}) {
    const std::vector<LaneInput> in = RandomInputs(rng_, lanes(), num_blocks);
    EXPECT_EQ(RunKernel(kernel(), in, num_blocks), Reference(in, num_blocks))
        << num_blocks << " blocks";
  }
}

TEST_P(Sha256KernelTest, RandomizedDifferentialAgainstPortable) {
  constexpr int64_t kMinLaneCompressions = 200'000;
  constexpr size_t kMaxBlocks = 3;
  const int lanes_n = lanes();
  // Preallocated lanes, each with random misalignment, refilled in place every call.
  std::vector<LaneInput> in = RandomInputs(rng_, lanes_n, kMaxBlocks);
  alignas(64) uint32_t soa[8 * kSha256MaxLanes];
  const uint8_t* ptrs[kSha256MaxLanes] = {};
  int64_t done = 0;
  int64_t calls = 0;
  while (done < kMinLaneCompressions) {
    const size_t num_blocks = 1 + rng_() % kMaxBlocks;
    for (int lane = 0; lane < lanes_n; ++lane) {
      in[lane].state = RandomState(rng_);
      FillRandom(rng_, absl::MakeSpan(in[lane].mutable_blocks(), num_blocks * kBlock));
      for (int w = 0; w < 8; ++w) soa[w * lanes_n + lane] = in[lane].state[w];
      ptrs[lane] = in[lane].blocks();
    }
    kernel().compress(soa, ptrs, num_blocks);
    for (int lane = 0; lane < lanes_n; ++lane) {
      Sha256State want = in[lane].state;
      Sha256CompressBlocks(want, in[lane].blocks(), num_blocks);
      for (int w = 0; w < 8; ++w) {
        ASSERT_EQ(soa[w * lanes_n + lane], want[w])
            << "call " << calls << ", lane " << lane << ", word " << w << ", " << num_blocks
            << " blocks; SASMINT_TEST_SEED=" << TestSeed();
      }
    }
    done += static_cast<int64_t>(lanes_n * num_blocks);
    ++calls;
  }
  RecordProperty("lane_compressions", std::to_string(done));
}

TEST_P(Sha256KernelTest, CompressWordsMatchesPortable) {
  const int lanes_n = lanes();
  for (int rep = 0; rep < 200; ++rep) {
    alignas(64) uint32_t soa[8 * kSha256MaxLanes];
    alignas(64) uint32_t words[16 * kSha256MaxLanes];
    std::vector<Sha256State> want(lanes_n);
    for (int lane = 0; lane < lanes_n; ++lane) {
      want[lane] = RandomState(rng_);
      std::array<uint8_t, kBlock> block;
      for (int t = 0; t < 16; ++t) {
        const uint32_t v = static_cast<uint32_t>(rng_());
        words[t * lanes_n + lane] = v;
        for (int i = 0; i < 4; ++i) block[4 * t + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
      }
      for (int w = 0; w < 8; ++w) soa[w * lanes_n + lane] = want[lane][w];
      Sha256CompressBlocks(want[lane], block.data(), 1);
    }
    kernel().compress_words(soa, words);
    for (int lane = 0; lane < lanes_n; ++lane) {
      for (int w = 0; w < 8; ++w) {
        ASSERT_EQ(soa[w * lanes_n + lane], want[lane][w]) << "rep " << rep << " lane " << lane;
      }
    }
  }
}

// Whole SHA-256 (padding per FIPS 180-4 §5.1.1) of messages of 0..200 bytes, built from kernel
// compressions, against the crypto library.
TEST_P(Sha256KernelTest, FullSha256OfMessagesUpTo200BytesMatchesOracle) {
  const int lanes_n = lanes();
  for (size_t len = 0; len <= 200; ++len) {
    const size_t num_blocks = (len + 9 + kBlock - 1) / kBlock;
    std::vector<std::vector<uint8_t>> messages(lanes_n, std::vector<uint8_t>(len));
    std::vector<std::vector<uint8_t>> padded(lanes_n, std::vector<uint8_t>(num_blocks * kBlock));
    alignas(64) uint32_t soa[8 * kSha256MaxLanes];
    const uint8_t* ptrs[kSha256MaxLanes] = {};
    for (int lane = 0; lane < lanes_n; ++lane) {
      FillRandom(rng_, absl::MakeSpan(messages[lane]));
      std::vector<uint8_t>& p = padded[lane];
      std::copy(messages[lane].begin(), messages[lane].end(), p.begin());
      p[len] = 0x80;
      const uint64_t bits = uint64_t{len} * 8;
      for (int i = 0; i < 8; ++i) p[p.size() - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
      for (int w = 0; w < 8; ++w) soa[w * lanes_n + lane] = kSha256InitialState[w];
      ptrs[lane] = p.data();
    }
    kernel().compress(soa, ptrs, num_blocks);
    for (int lane = 0; lane < lanes_n; ++lane) {
      Sha256State s;
      for (int w = 0; w < 8; ++w) s[w] = soa[w * lanes_n + lane];
      ASSERT_EQ(Sha256StateToDigest(s), crypto::OracleSha256(messages[lane]))
          << "len " << len << " lane " << lane;
    }
  }
}

// The HMAC recipe documented in sha256_kernel.h: inner blocks with compress() from the inner
// midstates, kept in rows 0..7 of the outer block's word buffer, then compress_words() from the
// outer midstates, with no copy in between; against the crypto library's HMAC().
TEST_P(Sha256KernelTest, HmacFromMidstatesMatchesOracle) {
  const int lanes_n = lanes();
  for (int rep = 0; rep < 40; ++rep) {
    const size_t len = rng_() % 120;                            // 1 or 2 inner blocks.
    const size_t num_blocks = (len + 9 + kBlock - 1) / kBlock;  // After the ipad block.
    std::vector<std::vector<uint8_t>> keys(lanes_n), messages(lanes_n);
    std::vector<std::vector<uint8_t>> padded(lanes_n, std::vector<uint8_t>(num_blocks * kBlock));
    alignas(64) uint32_t outer[8 * kSha256MaxLanes];
    alignas(64) uint32_t words[16 * kSha256MaxLanes] = {};
    uint32_t* const inner = words;  // Rows 0..7: the inner state, then the inner digest.
    // Rows 8..15: the padding of the 32-byte inner digest after the 64-byte opad block.
    for (int lane = 0; lane < lanes_n; ++lane) {
      words[8 * lanes_n + lane] = 0x80000000;
      words[15 * lanes_n + lane] = (64 + 32) * 8;
    }
    const uint8_t* ptrs[kSha256MaxLanes] = {};
    for (int lane = 0; lane < lanes_n; ++lane) {
      keys[lane].resize(rng_() % 101);
      FillRandom(rng_, absl::MakeSpan(keys[lane]));
      messages[lane].resize(len);
      FillRandom(rng_, absl::MakeSpan(messages[lane]));
      const HmacKey key = HmacKey::FromBytes(keys[lane]);
      std::vector<uint8_t>& p = padded[lane];
      std::copy(messages[lane].begin(), messages[lane].end(), p.begin());
      p[len] = 0x80;
      const uint64_t bits = (64 + uint64_t{len}) * 8;
      for (int i = 0; i < 8; ++i) p[p.size() - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
      for (int w = 0; w < 8; ++w) {
        inner[w * lanes_n + lane] = key.inner_state(SecretKeyAccess::Get())[w];
        outer[w * lanes_n + lane] = key.outer_state(SecretKeyAccess::Get())[w];
      }
      ptrs[lane] = p.data();
    }
    kernel().compress(inner, ptrs, num_blocks);
    kernel().compress_words(outer, words);
    for (int lane = 0; lane < lanes_n; ++lane) {
      Sha256State s;
      for (int w = 0; w < 8; ++w) s[w] = outer[w * lanes_n + lane];
      ASSERT_EQ(Sha256StateToDigest(s), crypto::OracleHmacSha256(keys[lane], messages[lane]))
          << "rep " << rep << " lane " << lane << " key length " << keys[lane].size()
          << " message length " << len;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllKernels, Sha256KernelTest, ::testing::ValuesIn([] {
                           std::vector<const Sha256LaneKernel*> all;
                           for (const Sha256LaneKernel& k : Sha256LaneKernels()) {
                             all.push_back(&k);
                           }
                           return all;
                         }()),
                         [](const ::testing::TestParamInfo<const Sha256LaneKernel*>& test) {
                           return std::string(test.param->name);
                         });

// --- Kernel table -------------------------------------------------------------------------------

TEST(Sha256LaneKernelsTest, TableCoversEveryIsaWithUniqueNames) {
  std::set<std::string> names;
  for (const Sha256LaneKernel& k : Sha256LaneKernels()) {
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_THAT(k.name, ::testing::StartsWith(std::string(IsaName(k.isa)) + "_x"));
    EXPECT_GE(k.lanes, 1);
    EXPECT_LE(k.lanes, kSha256MaxLanes);
    EXPECT_EQ(FindSha256LaneKernel(k.isa, k.lanes), &k);
  }
  ASSERT_NE(FindSha256LaneKernel(Isa::kPortable, 1), nullptr);
  ASSERT_NE(FindSha256LaneKernel(Isa::kShani, 1), nullptr);
  ASSERT_NE(FindSha256LaneKernel(Isa::kShani, 2), nullptr);
  ASSERT_NE(FindSha256LaneKernel(Isa::kShani, 4), nullptr);
  ASSERT_NE(FindSha256LaneKernel(Isa::kAvx2, 8), nullptr);
  ASSERT_NE(FindSha256LaneKernel(Isa::kAvx512, 16), nullptr);
  EXPECT_EQ(FindSha256LaneKernel(Isa::kAvx512, 8), nullptr);
}

// --- Dispatch -----------------------------------------------------------------------------------

constexpr CpuFeatureMask kShaniFeatures = kCpuSha | kCpuSse41 | kCpuSsse3;
constexpr CpuFeatureMask kAvx512Features = kCpuAvx512F | kCpuAvx512Bw | kCpuAvx512Vl | kCpuAvx512Dq;
constexpr CpuFeatureMask kAllFeatures = kShaniFeatures | kCpuAvx2 | kAvx512Features;
constexpr Isa kAllIsas[] = {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512};

TEST(CpuFeaturesTest, ParseIsaRoundTrips) {
  for (Isa isa : kAllIsas) {
    EXPECT_THAT(ParseIsa(IsaName(isa)), IsOk());
    EXPECT_EQ(ParseIsa(IsaName(isa)).value(), isa) << IsaName(isa);
  }
  EXPECT_EQ(ParseIsa("AVX512").value(), Isa::kAvx512);
  EXPECT_EQ(ParseIsa("ShaNi").value(), Isa::kShani);
}

TEST(CpuFeaturesTest, ParseIsaRejectsUnknownNames) {
  for (const char* bad : {"", "avx-512", "avx512 ", "sse", "neon", "avx51"}) {
    EXPECT_THAT(ParseIsa(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("portable, shani, avx2 or avx512")))
        << "'" << bad << "'";
  }
}

TEST(CpuFeaturesTest, BestIsaFollowsMeasuredPreference) {
  EXPECT_EQ(BestIsa(0), Isa::kPortable);
  EXPECT_EQ(BestIsa(kCpuAvx2), Isa::kAvx2);
  EXPECT_EQ(BestIsa(kShaniFeatures), Isa::kShani);
  EXPECT_EQ(BestIsa(kShaniFeatures | kCpuAvx2), Isa::kShani);
  EXPECT_EQ(BestIsa(kCpuSha | kCpuAvx2), Isa::kAvx2);  // SHA-NI kernel also needs SSE4.1.
  EXPECT_EQ(BestIsa(kAllFeatures), Isa::kAvx512);
  EXPECT_EQ(BestIsa(kAvx512Features), Isa::kAvx512);
  EXPECT_EQ(BestIsa(kAllFeatures & ~kCpuAvx512Bw), Isa::kShani);
  EXPECT_EQ(BestIsa(kCpuAvx2 | kCpuAvx512F), Isa::kAvx2);
}

TEST(CpuFeaturesTest, SelectIsaUnsetPicksBest) {
  for (CpuFeatureMask mask : {CpuFeatureMask{0}, kCpuAvx2, kShaniFeatures, kAllFeatures}) {
    EXPECT_EQ(SelectIsa(nullptr, mask).value(), BestIsa(mask));
    EXPECT_EQ(SelectIsa("", mask).value(), BestIsa(mask));
  }
  EXPECT_EQ(SelectIsa(nullptr).value(), BestIsa());
}

TEST(CpuFeaturesTest, SelectIsaHonoursOverride) {
  EXPECT_EQ(SelectIsa("portable", kAllFeatures).value(), Isa::kPortable);
  EXPECT_EQ(SelectIsa("shani", kAllFeatures).value(), Isa::kShani);
  EXPECT_EQ(SelectIsa("avx2", kAllFeatures).value(), Isa::kAvx2);
  EXPECT_EQ(SelectIsa("avx512", kAllFeatures).value(), Isa::kAvx512);
  EXPECT_EQ(SelectIsa("portable", 0).value(), Isa::kPortable);
  EXPECT_EQ(SelectIsa("portable").value(), Isa::kPortable);
}

TEST(CpuFeaturesTest, SelectIsaUnsupportedIsFailedPrecondition) {
  // A CPU with SHA-NI and AVX2 but no AVX-512 (e.g. Zen 2), asked for avx512.
  EXPECT_THAT(SelectIsa("avx512", kShaniFeatures | kCpuAvx2),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("SASMINT_ISA=avx512"),
                                        HasSubstr("avx512f avx512bw avx512vl avx512dq"),
                                        HasSubstr("portable shani avx2"))));
  EXPECT_THAT(SelectIsa("shani", kCpuAvx2 | kCpuSse41 | kCpuSsse3),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lacks sha ")));
  EXPECT_THAT(SelectIsa("avx2", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lacks avx2")));
  EXPECT_THAT(SelectIsa("avx512", kAllFeatures & ~kCpuAvx512Vl),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lacks avx512vl ")));
}

TEST(CpuFeaturesTest, SelectIsaUnknownIsInvalidArgument) {
  EXPECT_THAT(SelectIsa("avx1024", kAllFeatures),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SASMINT_ISA")));
}

TEST(CpuFeaturesTest, FeaturesToString) {
  EXPECT_EQ(CpuFeaturesToString(0), "none");
  EXPECT_EQ(CpuFeaturesToString(kShaniFeatures), "ssse3 sse4.1 sha");
  EXPECT_EQ(CpuFeaturesToString(kAllFeatures),
            "ssse3 sse4.1 sha avx2 avx512f avx512bw avx512vl avx512dq");
}

TEST(CpuFeaturesTest, PortableAlwaysSupported) {
  EXPECT_TRUE(IsaSupported(Isa::kPortable, 0));
  EXPECT_TRUE(IsaSupported(Isa::kPortable));
}

// Cross-checks CPUID detection against the kernel's view in /proc/cpuinfo (Linux on x86 only).
// On the development machine (Sapphire Rapids: AVX-512, SHA-NI) this asserts BestIsa() is avx512.
TEST(CpuFeaturesTest, DetectionAgreesWithProcCpuinfo) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::set<std::string> flags;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string f; words >> f;) flags.insert(f);
    break;
  }
  if (flags.empty()) GTEST_SKIP() << "no x86 flags line in /proc/cpuinfo";
  const CpuFeatureMask detected = DetectCpuFeatures();
  const struct {
    const char* flag;
    CpuFeatureMask bit;
  } kMap[] = {{"ssse3", kCpuSsse3},       {"sse4_1", kCpuSse41},     {"sha_ni", kCpuSha},
              {"avx2", kCpuAvx2},         {"avx512f", kCpuAvx512F},  {"avx512bw", kCpuAvx512Bw},
              {"avx512vl", kCpuAvx512Vl}, {"avx512dq", kCpuAvx512Dq}};
  CpuFeatureMask from_flags = 0;
  for (const auto& m : kMap) {
    if (flags.count(m.flag) != 0) from_flags |= m.bit;
    EXPECT_EQ((detected & m.bit) != 0, flags.count(m.flag) != 0) << m.flag;
  }
  EXPECT_EQ(BestIsa(), BestIsa(from_flags));
  std::cout << "[ cpu      ] " << CpuFeaturesToString(detected) << " -> best ISA "
            << IsaName(BestIsa()) << std::endl;
  if ((from_flags & kAvx512Features) == kAvx512Features) {
    EXPECT_EQ(BestIsa(), Isa::kAvx512);
  }
}

}  // namespace
}  // namespace sasmint::internal
