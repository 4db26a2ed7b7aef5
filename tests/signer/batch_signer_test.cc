// BatchSigner: one suite run against every ISA (ISAs this CPU lacks are skipped with a message;
// portable never is), then the dispatch tests.
//
// Known answers (RFC 4231) at every batch size from 1 to 2 x 16 + 1, ragged lengths, keys of
// 0..200 bytes, and a randomized differential test of over 250,000 MACs per ISA against both
// HmacKey::Sign (portable) and the crypto library's HMAC(), so over 1,000,000 across the four
// ISAs. MintBatch is checked against BuildToken for random scopes of every kind. Randomized
// tests print their seed (test_seed.h); rerun with SASMINT_TEST_SEED=<seed>.
#include "signer/batch_signer.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/hmac_kernel_plan.h"
#include "signer/internal/token_text.h"
#include "signer/sas_token.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::internal::CpuFeatureMask;
using ::sasmint::internal::HmacKernelPlan;
using ::sasmint::internal::IsaName;
using ::sasmint::internal::IsaSupported;
using ::sasmint::testing::IsOk;
using ::sasmint::testing::RandomBytes;
using ::sasmint::testing::StatusIs;
using ::sasmint::testing::TestSeed;
using ::testing::HasSubstr;

constexpr Isa kAllIsas[] = {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512};
constexpr size_t kMaxBatchTested = 2 * 16 + 1;  // 2 x the widest kernel's lanes + 1

std::string Hex(absl::Span<const uint8_t> b) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

const uint8_t* Bytes(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// KeyPool: random raw keys (for the oracle) and their HmacKeys (for the signer).
struct KeyPool {
  KeyPool(std::mt19937_64& rng, size_t n, size_t max_len) {
    for (size_t i = 0; i < n; ++i) {
      raw.push_back(RandomBytes(rng, rng() % (max_len + 1)));
      keys.push_back(HmacKey::FromBytes(raw.back()));
    }
  }
  std::vector<std::vector<uint8_t>> raw;
  std::vector<HmacKey> keys;
};

class BatchSignerTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    const Isa isa = GetParam();
    if (!IsaSupported(isa)) {
      GTEST_SKIP() << "ISA " << IsaName(isa) << " needs "
                   << internal::CpuFeaturesToString(internal::RequiredFeatures(isa))
                   << ", which this CPU lacks; usable features: "
                   << internal::CpuFeaturesToString(internal::DetectCpuFeatures());
    }
    absl::StatusOr<BatchSigner> signer = BatchSigner::Create(isa);
    ASSERT_THAT(signer, IsOk());
    signer_.emplace(*signer);
    rng_.seed(TestSeed() + static_cast<uint64_t>(isa));
  }

  // SignAndCheck signs `jobs` and compares every MAC with HmacKey::Sign and, where `raw_keys`
  // is given, with the crypto library's HMAC(). Returns the number of failures (reports the
  // first few).
  int SignAndCheck(absl::Span<const SignJob> jobs,
                   absl::Span<const std::vector<uint8_t>* const> raw_keys, absl::string_view what) {
    std::vector<Mac> macs(jobs.size());
    signer_->Sign(jobs, absl::MakeSpan(macs));
    int failures = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
      const absl::Span<const uint8_t> msg(jobs[i].message, jobs[i].length);
      const Mac portable = jobs[i].key->Sign(msg);
      bool ok = macs[i] == portable;
      if (!raw_keys.empty()) ok = ok && macs[i] == crypto::OracleHmacSha256(*raw_keys[i], msg);
      if (!ok && ++failures <= 5) {
        ADD_FAILURE() << what << ": job " << i << " of " << jobs.size() << ", message length "
                      << jobs[i].length << ", ISA " << IsaName(GetParam())
                      << ", SASMINT_TEST_SEED=" << TestSeed() << "\n  got  " << Hex(macs[i])
                      << "\n  want " << Hex(portable);
      }
    }
    return failures;
  }

  std::optional<BatchSigner> signer_;
  std::mt19937_64 rng_;
};

TEST_P(BatchSignerTest, Rfc4231AtEveryBatchSize) {
  ASSERT_OK_AND_ASSIGN(const std::vector<testing::VectorBlock> blocks,
                       testing::ReadVectorFile(testing::TestDataPath("hmac_rfc4231.txt")));
  struct Vector {
    HmacKey key;
    std::string data;
    std::string mac;  // possibly truncated
  };
  std::vector<Vector> vectors;
  for (const testing::VectorBlock& b : blocks) {
    ASSERT_THAT(b.ExpectFields({"Case", "Key", "Data", "Mac"}, {"TruncateBits"}), IsOk());
    ASSERT_OK_AND_ASSIGN(const std::string key, b.GetBytes("Key"));
    ASSERT_OK_AND_ASSIGN(std::string data, b.GetBytes("Data"));
    ASSERT_OK_AND_ASSIGN(std::string mac, b.GetBytes("Mac"));
    vectors.push_back({HmacKey::FromBytes(absl::MakeConstSpan(Bytes(key), key.size())),
                       std::move(data), std::move(mac)});
  }
  ASSERT_EQ(vectors.size(), 7u);
  for (size_t n = 1; n <= kMaxBatchTested; ++n) {
    std::vector<SignJob> jobs;
    std::vector<const Vector*> want;
    for (size_t i = 0; i < n; ++i) {
      const Vector& v = vectors[(i * 3 + n) % vectors.size()];  // a different mix per size
      jobs.push_back({&v.key, Bytes(v.data), v.data.size()});
      want.push_back(&v);
    }
    std::vector<Mac> macs(n);
    signer_->Sign(jobs, absl::MakeSpan(macs));
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(Hex(macs[i]).substr(0, 2 * want[i]->mac.size()),
                absl::BytesToHexString(want[i]->mac))
          << "batch size " << n << ", job " << i;
    }
  }
}

TEST_P(BatchSignerTest, RaggedLengths0To300InOneBatch) {
  KeyPool pool(rng_, 64, 200);
  std::vector<size_t> lengths(301);
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = i;
  std::shuffle(lengths.begin(), lengths.end(), rng_);
  // One buffer: messages at every alignment, some overlapping.
  const std::vector<uint8_t> arena = RandomBytes(rng_, 4096);
  std::vector<SignJob> jobs;
  std::vector<const std::vector<uint8_t>*> raw;
  for (size_t len : lengths) {
    const size_t k = rng_() % pool.keys.size();
    jobs.push_back({&pool.keys[k], arena.data() + rng_() % (arena.size() - len), len});
    raw.push_back(&pool.raw[k]);
  }
  EXPECT_EQ(SignAndCheck(jobs, raw, "ragged"), 0);
}

TEST_P(BatchSignerTest, KeysOf0To200BytesAtEverySize) {
  KeyPool pool(rng_, 0, 0);
  for (size_t len = 0; len <= 200; ++len) {
    pool.raw.push_back(RandomBytes(rng_, len));
    pool.keys.push_back(HmacKey::FromBytes(pool.raw.back()));
  }
  const std::vector<uint8_t> arena = RandomBytes(rng_, 1024);
  for (size_t n : {size_t{1}, size_t{2}, size_t{15}, size_t{17}, size_t{201}}) {
    std::vector<SignJob> jobs;
    std::vector<const std::vector<uint8_t>*> raw;
    for (size_t i = 0; i < n; ++i) {
      const size_t k = (i * 7 + n) % pool.keys.size();
      const size_t len = rng_() % 200;
      jobs.push_back({&pool.keys[k], arena.data() + rng_() % 64, len});
      raw.push_back(&pool.raw[k]);
    }
    EXPECT_EQ(SignAndCheck(jobs, raw, absl::StrCat("keys, batch ", n)), 0);
  }
}

TEST_P(BatchSignerTest, EveryLengthAtEveryBatchSizeWithOneKey) {
  // Each bucket (1, 2, 3 inner blocks) and the long path, full and partial groups.
  KeyPool pool(rng_, 1, 64);
  const std::vector<uint8_t> arena = RandomBytes(rng_, 2200);
  // Every block-count boundary up to 5 blocks, the largest lane-kernel message (16 blocks,
  // 1015 bytes) and the one-lane path beyond it.
  for (size_t len : {0,   1,   55,  56,  63,  64,   119,  120,  127,  128, 183,
                     184, 185, 247, 248, 300, 1015, 1016, 1017, 1080, 2100}) {
    for (size_t n = 1; n <= kMaxBatchTested; ++n) {
      std::vector<SignJob> jobs(n, SignJob{&pool.keys[0], arena.data() + n % 64, len});
      std::vector<const std::vector<uint8_t>*> raw(n, &pool.raw[0]);
      ASSERT_EQ(SignAndCheck(jobs, raw, absl::StrCat("length ", len, ", batch ", n)), 0);
    }
  }
}

TEST_P(BatchSignerTest, RandomizedDifferentialAgainstPortableAndOracle) {
  constexpr int64_t kMinCases = 262'144;  // x 4 ISAs > 1,000,000
  KeyPool pool(rng_, 512, 200);
  const std::vector<uint8_t> arena = RandomBytes(rng_, 8192);
  int64_t cases = 0;
  int failures = 0;
  std::vector<SignJob> jobs;
  std::vector<const std::vector<uint8_t>*> raw;
  while (cases < kMinCases && failures == 0) {
    // Mostly service-shaped batches; now and then one far larger than any kernel.
    const size_t n = rng_() % 8 == 0 ? 1 + rng_() % 600 : 1 + rng_() % 70;
    jobs.clear();
    raw.clear();
    for (size_t i = 0; i < n; ++i) {
      const size_t k = rng_() % pool.keys.size();
      // Mostly strings-to-sign lengths; some up to 16 blocks (the lane kernels' limit), a few
      // far beyond (the one-lane path).
      const uint64_t shape = rng_() % 100;
      const size_t len = shape < 85 ? rng_() % 184 : shape < 98 ? rng_() % 1100 : rng_() % 4000;
      jobs.push_back({&pool.keys[k], arena.data() + rng_() % (arena.size() - len), len});
      raw.push_back(&pool.raw[k]);
    }
    failures += SignAndCheck(jobs, raw, absl::StrCat("randomized, after ", cases, " cases"));
    cases += static_cast<int64_t>(n);
  }
  EXPECT_EQ(failures, 0) << "SASMINT_TEST_SEED=" << TestSeed();
  RecordProperty("cases", std::to_string(cases));
  std::cout << "[ cases    ] " << cases << " MACs (" << IsaName(GetParam()) << ")" << std::endl;
}

TEST_P(BatchSignerTest, EmptyBatchAndEmptyMessages) {
  signer_->Sign({}, {});
  const HmacKey key = HmacKey::FromBytes(RandomBytes(rng_, 32));
  std::vector<SignJob> jobs(3, SignJob{&key, nullptr, 0});
  EXPECT_EQ(SignAndCheck(jobs, {}, "empty messages"), 0);
  MintedTokens tokens;
  EXPECT_THAT(signer_->MintBatch({}, &tokens), IsOk());
  EXPECT_EQ(tokens.size(), 0u);
}

// RandomId returns 1..max_len characters of `alphabet`; the last from `last` if not empty.
std::string RandomId(std::mt19937_64& rng, absl::string_view alphabet, size_t max_len,
                     absl::string_view last = "") {
  std::string s(1 + rng() % max_len, ' ');
  for (char& c : s) c = alphabet[rng() % alphabet.size()];
  if (!last.empty()) s.back() = last[rng() % last.size()];
  return s;
}

TokenScope RandomScope(std::mt19937_64& rng) {
  static constexpr absl::string_view kAlnum =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const std::string id_chars = absl::StrCat(kAlnum, "-:.+%_#*?!(),=@;$'");
  const std::string hub = absl::StrCat(
      RandomId(rng, "abcdefghijklmnopqrstuvwxyz0123456789-", 40, "abc0"), ".azure-devices.net");
  // Now and then very long IDs, so that strings to sign exceed the fast path.
  const size_t max_id = rng() % 4 == 0 ? kMaxIdLength : 24;
  switch (rng() % 4) {
    case 0:
      return TokenScope::Device(hub, RandomId(rng, id_chars, max_id));
    case 1:
      return TokenScope::Module(hub, RandomId(rng, id_chars, max_id),
                                RandomId(rng, id_chars, max_id));
    case 2:
      return TokenScope::Policy(
          hub, RandomId(rng, absl::StrCat(kAlnum, "_-@."), 30),
          rng() % 2 ? "" : absl::StrCat("devices/", RandomId(rng, kAlnum, 20)));
    default:
      return TokenScope::Registration(
          RandomId(rng, kAlnum, 11),
          RandomId(rng, absl::StrCat(kAlnum, "-._:"), max_id, absl::StrCat(kAlnum, "-")));
  }
}

TEST_P(BatchSignerTest, MintBatchEqualsBuildToken) {
  KeyPool pool(rng_, 64, 64);
  MintedTokens tokens;  // reused across batches
  int64_t checked = 0;
  for (int batch = 0; batch < 200; ++batch) {
    const size_t n = 1 + rng_() % (batch % 10 == 0 ? 300 : 40);
    const int64_t shared_expiry = 1 + static_cast<int64_t>(rng_() % kMaxExpiry);
    std::vector<TokenScope> scopes;
    std::vector<std::string> encoded;
    std::vector<size_t> key_index;
    std::vector<int64_t> expiries;
    for (size_t i = 0; i < n; ++i) {
      scopes.push_back(RandomScope(rng_));
      ASSERT_THAT(ValidateScope(scopes.back()), IsOk()) << ResourceUri(scopes.back());
      encoded.push_back(EncodedResource(scopes.back()));
      key_index.push_back(rng_() % pool.keys.size());
      // Mostly one expiry per batch; some of every digit count.
      expiries.push_back(rng_() % 4 == 0 ? 1 + static_cast<int64_t>(rng_() % 10'000'000'000)
                                         : shared_expiry);
    }
    std::vector<TokenJob> jobs;
    for (size_t i = 0; i < n; ++i) {
      jobs.push_back({&pool.keys[key_index[i]], encoded[i], KeyName(scopes[i]), expiries[i]});
    }
    ASSERT_THAT(signer_->MintBatch(jobs, &tokens), IsOk());
    ASSERT_EQ(tokens.size(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_OK_AND_ASSIGN(const std::string want,
                           BuildToken(scopes[i], pool.keys[key_index[i]], expiries[i]));
      ASSERT_EQ(tokens[i], want) << "batch " << batch << ", job " << i
                                 << ", SASMINT_TEST_SEED=" << TestSeed();
      ++checked;
    }
  }
  std::cout << "[ tokens   ] " << checked << " (" << IsaName(GetParam()) << ")" << std::endl;
}

TEST_P(BatchSignerTest, MintBatchLongResourcesMatchFormatToken) {
  // Resources far longer than any scope's (the lane kernels read their whole blocks in place,
  // and past 1015 bytes the one-lane path takes over), with key names that need escaping.
  KeyPool pool(rng_, 8, 64);
  std::vector<std::string> resources;
  for (size_t len : {1, 54, 55, 100, 118, 119, 120, 183, 184, 500, 990, 994, 995, 1000, 1500}) {
    std::string r(len, 'r');
    for (char& c : r) c = "abcXYZ019-._~%"[rng_() % 14];
    resources.push_back(r);
  }
  std::vector<TokenJob> jobs;
  for (size_t i = 0; i < 3 * resources.size(); ++i) {
    jobs.push_back({&pool.keys[i % pool.keys.size()], resources[i % resources.size()],
                    i % 2 == 0 ? "" : "policy name/+", 1 + static_cast<int64_t>(i * 7919)});
  }
  MintedTokens tokens;
  ASSERT_THAT(signer_->MintBatch(jobs, &tokens), IsOk());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const std::string sts = StringToSign(jobs[i].encoded_resource, jobs[i].expiry);
    const Mac mac = jobs[i].key->Sign(absl::MakeConstSpan(Bytes(sts), sts.size()));
    ASSERT_EQ(tokens[i],
              FormatToken(jobs[i].encoded_resource, mac, jobs[i].expiry, jobs[i].key_name))
        << "job " << i << ", resource length " << jobs[i].encoded_resource.size();
  }
}

TEST_P(BatchSignerTest, MintBatchRejectsBadJobsWhole) {
  const HmacKey key = HmacKey::FromBytes(RandomBytes(rng_, 32));
  MintedTokens tokens;
  std::vector<TokenJob> jobs(3, TokenJob{&key, "hub%2Fdevices%2Fd", "", 1700000000});
  ASSERT_THAT(signer_->MintBatch(jobs, &tokens), IsOk());
  ASSERT_EQ(tokens.size(), 3u);
  for (int64_t bad : {int64_t{0}, int64_t{-5}, kMaxExpiry + 1}) {
    jobs[2].expiry = bad;
    EXPECT_THAT(signer_->MintBatch(jobs, &tokens),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token job 2: expiry")));
    EXPECT_EQ(tokens.size(), 0u);
  }
  jobs[2].expiry = kMaxExpiry;
  jobs[1].encoded_resource = "";
  EXPECT_THAT(signer_->MintBatch(jobs, &tokens),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("token job 1: empty")));
}

INSTANTIATE_TEST_SUITE_P(AllIsas, BatchSignerTest, ::testing::ValuesIn(kAllIsas),
                         [](const ::testing::TestParamInfo<Isa>& test) {
                           return std::string(IsaName(test.param));
                         });

// --- Token text pieces ------------------------------------------------------------------------

// EscapedSignature is the sig field as FormatToken writes it, spelled out independently.
std::string EscapedSignature(const Mac& mac) {
  std::string out;
  for (char c : Base64Encode(mac)) {
    out += c == '+' ? "%2B" : c == '/' ? "%2F" : c == '=' ? "%3D" : std::string(1, c);
  }
  return out;
}

TEST(TokenTextTest, SignatureWritersMatchFormatTokenAndStayInBounds) {
  std::mt19937_64 rng(TestSeed() + 7);
  std::vector<Mac> macs;
  Mac all_plus;  // 0xFB 0xEF 0xBE encodes as "++++"
  for (size_t i = 0; i < all_plus.size(); ++i) all_plus[i] = "\xFB\xEF\xBE"[i % 3];
  macs.push_back(all_plus);
  macs.push_back(Mac{});  // "AAAA..."
  macs.push_back([] {
    Mac m;
    m.fill(0xFF);
    return m;
  }());  // "////..."
  for (int i = 0; i < 100'000; ++i) {
    Mac m;
    for (uint8_t& b : m) b = static_cast<uint8_t>(rng());
    macs.push_back(m);
  }
  struct Writer {
    const char* name;
    internal::EscapedSignatureFn write;
    size_t slack;
  };
  std::vector<Writer> writers = {{"portable", &internal::WriteEscapedSignature, 0}};
  if (IsaSupported(Isa::kAvx2)) {
    writers.push_back(
        {"avx2", &internal::WriteEscapedSignatureAvx2, internal::kEscapedSignatureSlack});
  } else {
    std::cout << "[ skipped  ] the AVX2 signature writer: this CPU lacks AVX2" << std::endl;
  }
  for (const Writer& w : writers) {
    for (const Mac& mac : macs) {
      constexpr size_t kRoom = internal::kEscapedSignatureMax + internal::kEscapedSignatureSlack;
      char buf[kRoom + 16];
      std::memset(buf, '#', sizeof(buf));
      const char* end = w.write(mac.data(), buf);
      const std::string want = EscapedSignature(mac);
      ASSERT_EQ(std::string(static_cast<const char*>(buf), end), want) << w.name << " " << Hex(mac);
      for (const char* p = end + w.slack; p < buf + sizeof(buf); ++p) {
        ASSERT_EQ(*p, '#') << w.name << " stored " << (p - end) << " bytes past its result";
      }
    }
  }
}

TEST(TokenTextTest, DecimalsPercentEncodingAndCopies) {
  for (int64_t v :
       {int64_t{0}, int64_t{1}, int64_t{9}, int64_t{10}, int64_t{1700000000}, kMaxExpiry,
        std::numeric_limits<int64_t>::max(), int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    char buf[internal::kDecimalMax];
    EXPECT_EQ(std::string(buf, internal::WriteDecimal(v, buf)), absl::StrCat(v));
  }
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  std::string encoded(internal::PercentEncodedMax(every_byte.size()), '\0');
  encoded.resize(internal::WritePercentEncoded(every_byte, encoded.data()) - encoded.data());
  EXPECT_EQ(encoded, PercentEncode(every_byte));
  for (size_t n = 0; n <= 100; ++n) {
    const std::string src = every_byte.substr(n, n);
    std::string dst(128, '#');
    EXPECT_EQ(internal::PutBytes(src, dst.data()), dst.data() + n);
    EXPECT_EQ(dst, src + std::string(128 - n, '#')) << n;
  }
}

// --- Misuse, threads --------------------------------------------------------------------------

TEST(BatchSignerDeathTest, MismatchedSpansAbort) {
  ::testing::GTEST_FLAG(death_test_style) = "threadsafe";
  const BatchSigner signer = BatchSigner::Create(Isa::kPortable).value();
  const HmacKey key;
  const SignJob jobs[2] = {{&key, nullptr, 0}, {&key, nullptr, 0}};
  Mac macs[1];
  EXPECT_DEATH(signer.Sign(jobs, macs), "macs.size\\(\\) != jobs.size\\(\\)");
  const SignJob no_key[1] = {{nullptr, nullptr, 0}};
  EXPECT_DEATH(signer.Sign(no_key, macs), "no key");
}

TEST(BatchSignerThreadTest, OneSignerManyThreads) {
  ASSERT_OK_AND_ASSIGN(const BatchSigner signer, BatchSigner::Best());
  std::mt19937_64 rng(TestSeed() + 99);
  KeyPool pool(rng, 100, 64);
  const std::vector<uint8_t> arena = RandomBytes(rng, 1024);
  std::vector<SignJob> jobs;
  for (size_t i = 0; i < 1000; ++i) {
    jobs.push_back({&pool.keys[i % 100], arena.data() + rng() % 512, rng() % 200});
  }
  std::vector<Mac> want(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    want[i] = jobs[i].key->Sign(absl::MakeConstSpan(jobs[i].message, jobs[i].length));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Mac> macs(jobs.size());
      for (int rep = 0; rep < 50; ++rep) {
        signer.Sign(jobs, absl::MakeSpan(macs));
        if (macs != want) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

// --- Dispatch ---------------------------------------------------------------------------------

constexpr CpuFeatureMask kShaniFeatures =
    internal::kCpuSha | internal::kCpuSse41 | internal::kCpuSsse3;
constexpr CpuFeatureMask kAvx512Features = internal::kCpuAvx512F | internal::kCpuAvx512Bw |
                                           internal::kCpuAvx512Vl | internal::kCpuAvx512Dq;
constexpr CpuFeatureMask kAllFeatures = kShaniFeatures | internal::kCpuAvx2 | kAvx512Features;

// ScopedIsaEnv sets (or, with null, unsets) SASMINT_ISA and restores it when destroyed.
class ScopedIsaEnv {
 public:
  explicit ScopedIsaEnv(const char* value) {
    if (const char* old = std::getenv("SASMINT_ISA"); old != nullptr) old_ = old;
    if (value == nullptr) {
      unsetenv("SASMINT_ISA");
    } else {
      setenv("SASMINT_ISA", value, 1);
    }
  }
  ~ScopedIsaEnv() {
    if (old_) {
      setenv("SASMINT_ISA", old_->c_str(), 1);
    } else {
      unsetenv("SASMINT_ISA");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(BatchSignerDispatchTest, BestPicksTheFastestIsaOfThisCpu) {
  ScopedIsaEnv env(nullptr);
  ASSERT_OK_AND_ASSIGN(const BatchSigner signer, BatchSigner::Best());
  EXPECT_EQ(signer.isa(), internal::BestIsa());
  std::cout << "[ signer   ] " << signer.Describe() << std::endl;
  if (IsaSupported(Isa::kAvx512)) {
    // The development CPU (Sapphire Rapids class): AVX-512 groups, SHA-NI leftovers.
    EXPECT_EQ(signer.isa(), Isa::kAvx512);
    EXPECT_THAT(signer.Describe(), HasSubstr("groups: avx512_x16"));
    if (IsaSupported(Isa::kShani)) {
      EXPECT_THAT(signer.Describe(), HasSubstr("shani_x2"));
    }
  }
}

TEST(BatchSignerDispatchTest, SasmintIsaOverrideIsHonoured) {
  for (Isa isa : kAllIsas) {
    if (!IsaSupported(isa)) continue;
    ScopedIsaEnv env(std::string(IsaName(isa)).c_str());
    ASSERT_OK_AND_ASSIGN(const BatchSigner signer, BatchSigner::Best());
    EXPECT_EQ(signer.isa(), isa);
    EXPECT_THAT(signer.Describe(), ::testing::StartsWith(std::string(IsaName(isa))));
  }
  ScopedIsaEnv env("PORTABLE");  // Case-insensitive.
  EXPECT_EQ(BatchSigner::Best().value().isa(), Isa::kPortable);
}

TEST(BatchSignerDispatchTest, UnknownIsaIsInvalidArgument) {
  ScopedIsaEnv env("avx1024");
  EXPECT_THAT(BatchSigner::Best(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SASMINT_ISA")));
}

TEST(BatchSignerDispatchTest, IsaTheCpuLacksIsFailedPrecondition) {
  // A CPU with SHA-NI and AVX2 but no AVX-512 (e.g. Zen 2), asked for avx512.
  EXPECT_THAT(internal::MakeHmacKernelPlan(Isa::kAvx512, kShaniFeatures | internal::kCpuAvx2),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("lacks avx512f avx512bw avx512vl avx512dq")));
  EXPECT_THAT(internal::MakeHmacKernelPlan(Isa::kShani, internal::kCpuAvx2),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("lacks")));
  for (Isa isa : kAllIsas) {
    if (IsaSupported(isa)) continue;
    EXPECT_THAT(BatchSigner::Create(isa), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                   HasSubstr(std::string(IsaName(isa)))));
    ScopedIsaEnv env(std::string(IsaName(isa)).c_str());
    EXPECT_THAT(BatchSigner::Best(),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("this CPU cannot run")));
  }
}

TEST(BatchSignerDispatchTest, PlansUseTheirOwnIsaAndCheapLeftovers) {
  const HmacKernelPlan avx512 = internal::MakeHmacKernelPlan(Isa::kAvx512, kAllFeatures).value();
  EXPECT_STREQ(avx512.full->name, "avx512_x16");
  EXPECT_STREQ(avx512.leftover[1]->name, "shani_x1");
  EXPECT_STREQ(avx512.leftover[2]->name, "shani_x2");
  EXPECT_STREQ(avx512.leftover[15]->name, "avx512_x16");  // 8 SHA-NI calls cost more
  EXPECT_STREQ(avx512.single->name, "shani_x1");
  // Without SHA-NI, AVX-512 leftovers never touch it; SASMINT_ISA=avx2 runs no SHA-NI at all
  // (valgrind cannot execute it).
  const HmacKernelPlan no_sha =
      internal::MakeHmacKernelPlan(Isa::kAvx512, kAvx512Features | internal::kCpuAvx2).value();
  const HmacKernelPlan avx2 = internal::MakeHmacKernelPlan(Isa::kAvx2, kAllFeatures).value();
  const HmacKernelPlan portable = internal::MakeHmacKernelPlan(Isa::kPortable, 0).value();
  for (const HmacKernelPlan* plan : {&no_sha, &avx2, &portable}) {
    EXPECT_NE(plan->single->isa, Isa::kShani);
    for (int r = 1; r < plan->full->lanes; ++r) {
      EXPECT_NE(plan->leftover[r]->isa, Isa::kShani) << r;
      EXPECT_TRUE(plan->leftover[r]->isa == plan->isa || plan->leftover[r]->isa == Isa::kAvx2 ||
                  plan->leftover[r]->isa == Isa::kPortable);
    }
  }
  EXPECT_STREQ(portable.leftover[1]->name, "portable_x1");
  const HmacKernelPlan shani = internal::MakeHmacKernelPlan(Isa::kShani, kShaniFeatures).value();
  EXPECT_STREQ(shani.full->name, "shani_x2");
  EXPECT_STREQ(shani.leftover[1]->name, "shani_x1");
}

}  // namespace
}  // namespace sasmint

namespace sasmint {
namespace {

// PrepareKeys must equal HmacKey::FromBytes for every ISA, every batch shape and key length
// (including keys over 64 bytes, which are hashed first).
TEST(BatchSignerPrepareKeysTest, EqualsFromBytesForEveryIsaAndKeyLength) {
  for (const Isa isa : {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512}) {
    absl::StatusOr<BatchSigner> signer = BatchSigner::Create(isa);
    if (!signer.ok()) {
      std::cout << "skipping " << static_cast<int>(isa) << ": " << signer.status() << "\n";
      continue;
    }
    SCOPED_TRACE(signer->Describe());
    for (const size_t count : {1u, 2u, 7u, 16u, 17u, 40u}) {
      std::vector<std::vector<uint8_t>> keys(count);
      std::vector<absl::Span<const uint8_t>> views;
      for (size_t i = 0; i < count; ++i) {
        keys[i].resize((i * 37 + count) % 150);
        for (size_t b = 0; b < keys[i].size(); ++b) keys[i][b] = static_cast<uint8_t>(i * 31 + b);
        views.push_back(keys[i]);
      }
      std::vector<HmacKey> out(count);
      signer->PrepareKeys(views, absl::MakeSpan(out));
      const uint8_t msg[] = {'m', 's', 'g'};
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(out[i].Sign(msg), HmacKey::FromBytes(keys[i]).Sign(msg)) << count << "/" << i;
        EXPECT_EQ(out[i].Fingerprint(), HmacKey::FromBytes(keys[i]).Fingerprint());
      }
    }
  }
}

}  // namespace
}  // namespace sasmint
