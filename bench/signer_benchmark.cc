// signer_benchmark: HMAC-SHA256 signing and SAS token throughput, reported in tokens per second.
//
// Benchmark names are a contract read by scripts; keep them exact:
//   BM_Hmac/<implementation>/batch:<n>/len:<bytes>   one MAC per token over a `bytes`-long message
//   BM_Token/<implementation>/batch:<n>/len:<bytes>  whole token text for a device scope whose
//                                                    string to sign is exactly `bytes` long
//   BM_ColdKeys/<implementation>/batch:64/len:60     BM_Hmac with 4,000,000 distinct keys taken in
//                                                    random order (key state not in cache)
// for batch 1, 16, 64, 256 and len 55, 60, 100, 200. items_per_second counts tokens;
// ns_per_token is its inverse. Each batch signs with distinct keys (32 bytes) and distinct
// messages, one per token. BM_Hmac implementations:
//   <backend>_oneshot  the crypto library's one-shot HMAC() with the raw key for every token, as
//                      a naive service does (<backend> is crypto::BackendName(): openssl or
//                      boringssl)
//   <backend>_reuse    the fastest API of that library with the key state kept per key: one
//                      HMAC_CTX per key, re-initialized with a null key (HMAC_Init_ex) per token
//   ipsecmb            intel-ipsec-mb (OpenSSL builds, when libipsec-mb-dev is installed):
//                      HMAC-SHA256 jobs with precomputed ipad/opad digests through the hash-burst
//                      API of init_mb_mgr_auto's manager; ipsecmb_sse (its SHA-NI manager),
//                      ipsecmb_avx512 (16 lanes, SHA-NI off) name the others
//   sasmint_<isa>      BatchSigner::Create(<isa>)::Sign, isa = portable, shani, avx2, avx512
//                      (reported as an error where this CPU lacks the ISA)
//   sasmint_best       BatchSigner::Best()::Sign (honours SASMINT_ISA)
// BM_Token implementations: sasmint_<isa> / sasmint_best run BatchSigner::MintBatch with the
// encoded resource cached per identity (as the key store does) and one expiry per batch;
// buildtoken runs BuildToken per token (scope validation, encoding, portable HMAC).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "signer/batch_signer.h"
#include "signer/crypto_backend.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/cpu_features.h"
#include "signer/sas_token.h"

#if defined(SASMINT_HAVE_IPSECMB)
#include <intel-ipsec-mb.h>
#endif

namespace sasmint {
namespace {

constexpr size_t kBatches[] = {1, 16, 64, 256};
constexpr size_t kLengths[] = {55, 60, 100, 200};
constexpr size_t kPoolSize = 256;  // the largest batch: every token in a batch is distinct
constexpr size_t kKeyBytes = 32;
constexpr int64_t kExpiry = 1700000000;  // 10 digits, like any expiry until 2286
constexpr size_t kColdKeys = 4'000'000;

struct Corpus {
  std::vector<std::vector<uint8_t>> keys;
  std::vector<std::vector<uint8_t>> messages;
};

// CorpusFor returns kPoolSize distinct keys and messages of exactly `len` bytes, built once
// (fixed seed, so every run signs the same bytes).
const Corpus& CorpusFor(size_t len) {
  static std::mutex mu;
  static std::map<size_t, Corpus>* corpora = new std::map<size_t, Corpus>();
  std::lock_guard<std::mutex> lock(mu);
  auto [it, inserted] = corpora->try_emplace(len);
  if (inserted) {
    std::mt19937_64 rng(0x5a5d1e57u + len);
    for (size_t i = 0; i < kPoolSize; ++i) {
      std::vector<uint8_t> key(kKeyBytes), msg(len);
      for (auto& b : key) b = static_cast<uint8_t>(rng());
      for (auto& b : msg) b = static_cast<uint8_t>(rng());
      it->second.keys.push_back(std::move(key));
      it->second.messages.push_back(std::move(msg));
    }
  }
  return it->second;
}

void SetTokenCounters(benchmark::State& state, size_t batch) {
  const double tokens = static_cast<double>(state.iterations()) * static_cast<double>(batch);
  state.SetItemsProcessed(static_cast<int64_t>(tokens));
  state.counters["ns_per_token"] =
      benchmark::Counter(tokens * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// CheckMacs reports an error (and returns false) unless `macs` are the corpus' HMACs.
bool CheckMacs(benchmark::State& state, const Corpus& c, absl::Span<const Mac> macs) {
  for (size_t i = 0; i < macs.size(); ++i) {
    if (macs[i] != crypto::OracleHmacSha256(c.keys[i], c.messages[i])) {
      state.SkipWithError(absl::StrCat("wrong MAC for token ", i).c_str());
      return false;
    }
  }
  return true;
}

// --- The crypto library -------------------------------------------------------------------------

void BM_HmacOneshot(benchmark::State& state, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      Mac mac = crypto::OracleHmacSha256(c.keys[i], c.messages[i]);
      benchmark::DoNotOptimize(mac);
    }
  }
  SetTokenCounters(state, batch);
}

// One HMAC_CTX per key, keyed once; HMAC_Init_ex with a null key then restores the saved
// ipad/opad state without allocating. The fastest of the APIs measured with OpenSSL 3.0
// (bench/README.md: EVP_MAC_init reuse, EVP_MAC_CTX_dup, HMAC_CTX_copy, EVP_DigestSign with
// EVP_MD_CTX_copy_ex), although OpenSSL 3 deprecates it; BoringSSL's recommended API.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
class ReuseMac {
 public:
  explicit ReuseMac(const std::vector<uint8_t>& key) : ctx_(HMAC_CTX_new()) {
    ok_ = ctx_ != nullptr &&
          HMAC_Init_ex(ctx_, key.data(), static_cast<int>(key.size()), EVP_sha256(), nullptr) == 1;
  }
  ReuseMac(const ReuseMac&) = delete;
  ReuseMac& operator=(const ReuseMac&) = delete;
  ~ReuseMac() { HMAC_CTX_free(ctx_); }
  bool ok() const { return ok_; }
  bool Sign(const std::vector<uint8_t>& msg, sasmint::Mac& out) {
    unsigned n = 0;
    return HMAC_Init_ex(ctx_, nullptr, 0, nullptr, nullptr) == 1 &&
           HMAC_Update(ctx_, msg.data(), msg.size()) == 1 && HMAC_Final(ctx_, out.data(), &n) == 1;
  }

 private:
  HMAC_CTX* ctx_;
  bool ok_ = false;
};
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

void BM_HmacReuse(benchmark::State& state, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  std::vector<std::unique_ptr<ReuseMac>> ctxs;
  for (size_t i = 0; i < batch; ++i) {
    ctxs.push_back(std::make_unique<ReuseMac>(c.keys[i]));
    if (!ctxs.back()->ok()) return state.SkipWithError("HMAC context setup failed");
  }
  std::vector<Mac> macs(batch);
  for (size_t i = 0; i < batch; ++i) ctxs[i]->Sign(c.messages[i], macs[i]);
  if (!CheckMacs(state, c, macs)) return;
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) ctxs[i]->Sign(c.messages[i], macs[i]);
    benchmark::DoNotOptimize(macs.data());
    benchmark::ClobberMemory();
  }
  SetTokenCounters(state, batch);
}

// --- intel-ipsec-mb
// -------------------------------------------------------------------------------

#if defined(SASMINT_HAVE_IPSECMB)
enum class ImbManager { kAuto, kSse, kAvx512 };

void BM_HmacIpsecMb(benchmark::State& state, ImbManager which, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  // kAvx512 turns SHA-NI off so that the 16-lane AVX-512 code signs (otherwise the manager may
  // prefer SHA-NI for SHA-256).
  IMB_MGR* mgr = alloc_mb_mgr(which == ImbManager::kAvx512 ? IMB_FLAG_SHANI_OFF : 0);
  if (mgr == nullptr) return state.SkipWithError("alloc_mb_mgr failed");
  IMB_ARCH arch = IMB_ARCH_NONE;
  switch (which) {
    case ImbManager::kAuto:
      init_mb_mgr_auto(mgr, &arch);
      break;
    case ImbManager::kSse:
      init_mb_mgr_sse(mgr);
      arch = IMB_ARCH_SSE;
      break;
    case ImbManager::kAvx512:
      init_mb_mgr_avx512(mgr);
      arch = IMB_ARCH_AVX512;
      break;
  }
  if (imb_get_errno(mgr) != 0) {
    state.SkipWithError(imb_get_strerror(imb_get_errno(mgr)));
    return free_mb_mgr(mgr);
  }
  static constexpr const char* kArch[] = {"none", "noaesni", "sse", "avx", "avx2", "avx512"};
  state.SetLabel(absl::StrCat(arch < IMB_ARCH_NUM ? kArch[arch] : "?", " features=0x",
                              absl::Hex(mgr->features)));
  // ipad/opad digests, the way the library's own HMAC tests make them: one SHA-256 block of
  // key ^ 0x36 (0x5c) through IMB_SHA256_ONE_BLOCK.
  struct alignas(16) Pads {
    uint8_t ipad[32];
    uint8_t opad[32];
  };
  std::vector<Pads> pads(batch);
  for (size_t i = 0; i < batch; ++i) {
    uint8_t block[64];
    for (uint8_t pad : {uint8_t{0x36}, uint8_t{0x5c}}) {
      std::memset(block, pad, sizeof(block));
      for (size_t k = 0; k < c.keys[i].size(); ++k) block[k] ^= c.keys[i][k];
      IMB_SHA256_ONE_BLOCK(mgr, block, pad == 0x36 ? pads[i].ipad : pads[i].opad);
    }
  }
  std::vector<Mac> macs(batch);
  std::vector<IMB_JOB> jobs(std::min<size_t>(batch, IMB_MAX_BURST_SIZE));
  const auto run = [&] {
    for (size_t first = 0; first < batch; first += jobs.size()) {
      const size_t n = std::min(jobs.size(), batch - first);
      for (size_t j = 0; j < n; ++j) {
        IMB_JOB& job = jobs[j];
        const size_t i = first + j;
        job.src = c.messages[i].data();
        job.hash_start_src_offset_in_bytes = 0;
        job.msg_len_to_hash_in_bytes = c.messages[i].size();
        job.auth_tag_output = macs[i].data();
        job.auth_tag_output_len_in_bytes = kMacSize;
        job.u.HMAC._hashed_auth_key_xor_ipad = pads[i].ipad;
        job.u.HMAC._hashed_auth_key_xor_opad = pads[i].opad;
        job.hash_alg = IMB_AUTH_HMAC_SHA_256;
        job.cipher_mode = IMB_CIPHER_NULL;
        job.chain_order = IMB_ORDER_HASH_CIPHER;
      }
      if (IMB_SUBMIT_HASH_BURST(mgr, jobs.data(), static_cast<uint32_t>(n),
                                IMB_AUTH_HMAC_SHA_256) != n) {
        return false;
      }
    }
    return true;
  };
  if (!run()) {
    state.SkipWithError(
        absl::StrCat("IMB_SUBMIT_HASH_BURST: ", imb_get_strerror(imb_get_errno(mgr))).c_str());
    return free_mb_mgr(mgr);
  }
  if (CheckMacs(state, c, macs)) {
    for (auto _ : state) {
      run();
      benchmark::DoNotOptimize(macs.data());
      benchmark::ClobberMemory();
    }
    SetTokenCounters(state, batch);
  }
  free_mb_mgr(mgr);
}
#endif  // SASMINT_HAVE_IPSECMB

// --- sasmint ------------------------------------------------------------------------------------

// SignerFor returns BatchSigner::Best() (isa empty) or Create(*isa), or reports why not.
std::optional<BatchSigner> SignerFor(benchmark::State& state, std::optional<Isa> isa) {
  absl::StatusOr<BatchSigner> signer = isa ? BatchSigner::Create(*isa) : BatchSigner::Best();
  if (!signer.ok()) {
    state.SkipWithError(std::string(signer.status().message()).c_str());
    return std::nullopt;
  }
  if (!isa) state.SetLabel(signer->Describe());
  return *signer;
}

void BM_HmacBatchSigner(benchmark::State& state, std::optional<Isa> isa, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  const std::optional<BatchSigner> signer = SignerFor(state, isa);
  if (!signer) return;
  std::vector<HmacKey> keys;
  std::vector<SignJob> jobs;
  for (size_t i = 0; i < batch; ++i) keys.push_back(HmacKey::FromBytes(c.keys[i]));
  for (size_t i = 0; i < batch; ++i) jobs.push_back({&keys[i], c.messages[i].data(), len});
  std::vector<Mac> macs(batch);
  signer->Sign(jobs, absl::MakeSpan(macs));
  if (!CheckMacs(state, c, macs)) return;
  for (auto _ : state) {
    signer->Sign(jobs, absl::MakeSpan(macs));
    benchmark::DoNotOptimize(macs.data());
    benchmark::ClobberMemory();
  }
  SetTokenCounters(state, batch);
}

// ColdKeyTable: kColdKeys keys, each on its own cache line (as a key store that aligns its
// entries keeps them), and a random order to visit them in (a permutation: every key once per
// 4,000,000 tokens, far more than the caches hold: 256 MB of key state).
struct ColdKeyTable {
  struct alignas(64) Entry {
    HmacKey key;
  };
  std::vector<Entry> entries;
  std::vector<uint32_t> order;
};

const ColdKeyTable& ColdKeys() {
  static const ColdKeyTable* table = [] {
    auto* t = new ColdKeyTable;
    std::mt19937_64 rng(0xc01d);
    t->entries.reserve(kColdKeys);
    uint64_t key[kKeyBytes / 8];
    for (size_t i = 0; i < kColdKeys; ++i) {
      for (uint64_t& w : key) w = rng();
      t->entries.push_back({HmacKey::FromBytes(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(key), sizeof(key)))});
    }
    t->order.resize(kColdKeys);
    for (size_t i = 0; i < kColdKeys; ++i) t->order[i] = static_cast<uint32_t>(i);
    std::shuffle(t->order.begin(), t->order.end(), rng);
    return t;
  }();
  return *table;
}

void BM_ColdKeysBatchSigner(benchmark::State& state, std::optional<Isa> isa, size_t batch,
                            size_t len) {
  const Corpus& c = CorpusFor(len);
  const std::optional<BatchSigner> signer = SignerFor(state, isa);
  if (!signer) return;
  const ColdKeyTable& table = ColdKeys();
  std::vector<SignJob> jobs(batch);
  for (size_t i = 0; i < batch; ++i) jobs[i] = {nullptr, c.messages[i].data(), len};
  std::vector<Mac> macs(batch);
  size_t next = 0;
  for (auto _ : state) {
    if (next + batch > table.order.size()) next = 0;
    for (size_t i = 0; i < batch; ++i) jobs[i].key = &table.entries[table.order[next + i]].key;
    next += batch;
    signer->Sign(jobs, absl::MakeSpan(macs));
    benchmark::DoNotOptimize(macs.data());
    benchmark::ClobberMemory();
  }
  SetTokenCounters(state, batch);
}

// DeviceScopeOfLength returns a device scope whose string to sign (with kExpiry) is exactly `len`
// bytes: the device ID grows up to 128 characters, then the hub name gains labels. Only
// unreserved characters are added, so percent-encoding does not expand them.
absl::StatusOr<TokenScope> DeviceScopeOfLength(size_t index, size_t len) {
  std::string hub = "bench.azure-devices.net";
  std::string device = absl::StrCat("dev-", index);
  const auto current = [&] {
    return StringToSign(EncodedResource(TokenScope::Device(hub, device)), kExpiry).size();
  };
  if (current() > len) {
    return absl::InvalidArgumentError(
        absl::StrCat("len ", len, " is too short for a device token"));
  }
  size_t need = len - current();
  size_t grow = std::min(need, kMaxIdLength - device.size());
  if (need - grow == 1) --grow;  // a hub label needs at least 2 bytes ("h.")
  device.append(grow, 'x');
  need -= grow;
  while (need > 0) {
    size_t label = std::min<size_t>(need - 1, 63);
    if (need - (label + 1) == 1) --label;
    hub = absl::StrCat(std::string(label, 'h'), ".", hub);
    need -= label + 1;
  }
  TokenScope scope = TokenScope::Device(hub, device);
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;
  if (current() != len) return absl::InternalError("DeviceScopeOfLength: length mismatch");
  return scope;
}

// TokenCorpus: `batch` device scopes with `len`-byte strings to sign, their keys and cached
// encoded resources.
struct TokenCorpus {
  std::vector<TokenScope> scopes;
  std::vector<std::string> encoded;
  std::vector<HmacKey> keys;
};

absl::StatusOr<TokenCorpus> MakeTokenCorpus(size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  TokenCorpus t;
  for (size_t i = 0; i < batch; ++i) {
    absl::StatusOr<TokenScope> scope = DeviceScopeOfLength(i, len);
    if (!scope.ok()) return scope.status();
    t.encoded.push_back(EncodedResource(*scope));
    t.scopes.push_back(*std::move(scope));
    t.keys.push_back(HmacKey::FromBytes(c.keys[i]));
  }
  return t;
}

void BM_TokenBuildToken(benchmark::State& state, size_t batch, size_t len) {
  absl::StatusOr<TokenCorpus> t = MakeTokenCorpus(batch, len);
  if (!t.ok()) return state.SkipWithError(std::string(t.status().message()).c_str());
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      absl::StatusOr<std::string> token = BuildToken(t->scopes[i], t->keys[i], kExpiry);
      benchmark::DoNotOptimize(token);
    }
  }
  SetTokenCounters(state, batch);
}

void BM_TokenMintBatch(benchmark::State& state, std::optional<Isa> isa, size_t batch, size_t len) {
  absl::StatusOr<TokenCorpus> t = MakeTokenCorpus(batch, len);
  if (!t.ok()) return state.SkipWithError(std::string(t.status().message()).c_str());
  const std::optional<BatchSigner> signer = SignerFor(state, isa);
  if (!signer) return;
  std::vector<TokenJob> jobs;
  for (size_t i = 0; i < batch; ++i) {
    jobs.push_back({&t->keys[i], t->encoded[i], KeyName(t->scopes[i]), kExpiry});
  }
  MintedTokens tokens;  // reused: no allocation after the first batch
  if (absl::Status s = signer->MintBatch(jobs, &tokens); !s.ok()) {
    return state.SkipWithError(std::string(s.message()).c_str());
  }
  for (size_t i = 0; i < batch; ++i) {
    if (tokens[i] != BuildToken(t->scopes[i], t->keys[i], kExpiry).value()) {
      return state.SkipWithError(absl::StrCat("token ", i, " differs from BuildToken").c_str());
    }
  }
  for (auto _ : state) {
    absl::Status s = signer->MintBatch(jobs, &tokens);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  SetTokenCounters(state, batch);
}

std::string Name(absl::string_view family, absl::string_view implementation, size_t batch,
                 size_t len) {
  return absl::StrCat(family, "/", implementation, "/batch:", batch, "/len:", len);
}

int RegisterAll() {
  const std::string backend(crypto::BackendName());
  benchmark::AddCustomContext("sasmint_crypto_backend", backend);
  benchmark::AddCustomContext("sasmint_cpu_features",
                              internal::CpuFeaturesToString(internal::DetectCpuFeatures()));
#if defined(SASMINT_HAVE_IPSECMB)
  benchmark::AddCustomContext("ipsecmb_version", imb_get_version_str());
#endif
  constexpr Isa kIsas[] = {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512};
  for (size_t len : kLengths) {
    for (size_t batch : kBatches) {
      const auto add = [&](absl::string_view impl, auto fn) {
        benchmark::RegisterBenchmark(Name("BM_Hmac", impl, batch, len).c_str(),
                                     [=](benchmark::State& s) { fn(s, batch, len); });
      };
      add(backend + "_oneshot", BM_HmacOneshot);
      add(backend + "_reuse", BM_HmacReuse);
#if defined(SASMINT_HAVE_IPSECMB)
      add("ipsecmb", [](benchmark::State& s, size_t b, size_t l) {
        BM_HmacIpsecMb(s, ImbManager::kAuto, b, l);
      });
      add("ipsecmb_sse", [](benchmark::State& s, size_t b, size_t l) {
        BM_HmacIpsecMb(s, ImbManager::kSse, b, l);
      });
      add("ipsecmb_avx512", [](benchmark::State& s, size_t b, size_t l) {
        BM_HmacIpsecMb(s, ImbManager::kAvx512, b, l);
      });
#endif
      for (Isa isa : kIsas) {
        add(absl::StrCat("sasmint_", internal::IsaName(isa)),
            [isa](benchmark::State& s, size_t b, size_t l) { BM_HmacBatchSigner(s, isa, b, l); });
      }
      add("sasmint_best", [](benchmark::State& s, size_t b, size_t l) {
        BM_HmacBatchSigner(s, std::nullopt, b, l);
      });
    }
  }
  for (size_t len : kLengths) {
    for (size_t batch : kBatches) {
      const auto add = [&](absl::string_view impl, auto fn) {
        benchmark::RegisterBenchmark(Name("BM_Token", impl, batch, len).c_str(),
                                     [=](benchmark::State& s) { fn(s, batch, len); });
      };
      add("buildtoken", BM_TokenBuildToken);
      for (Isa isa : kIsas) {
        add(absl::StrCat("sasmint_", internal::IsaName(isa)),
            [isa](benchmark::State& s, size_t b, size_t l) { BM_TokenMintBatch(s, isa, b, l); });
      }
      add("sasmint_best", [](benchmark::State& s, size_t b, size_t l) {
        BM_TokenMintBatch(s, std::nullopt, b, l);
      });
    }
  }
  benchmark::RegisterBenchmark(
      Name("BM_ColdKeys", "sasmint_best", 64, 60).c_str(),
      [](benchmark::State& s) { BM_ColdKeysBatchSigner(s, std::nullopt, 64, 60); });
  return 0;
}

[[maybe_unused]] const int kRegistered = RegisterAll();

}  // namespace
}  // namespace sasmint
