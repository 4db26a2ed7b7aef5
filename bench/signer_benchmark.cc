// signer_benchmark: HMAC-SHA256 signing and SAS token throughput, reported in tokens per second.
//
// Benchmark names are a contract read by scripts; keep them exact:
//   BM_Hmac/<implementation>/batch:<n>/len:<bytes>   one MAC per token over a `bytes`-long message
//   BM_Token/<implementation>/batch:<n>/len:<bytes>  BuildToken for a device scope whose string to
//                                                    sign is exactly `bytes` long
// items_per_second counts tokens. Implementations:
//   <backend>_oneshot  the crypto library's one-shot HMAC() with the raw key for every token, as a
//                      naive service does (<backend> is crypto::BackendName(): openssl, boringssl)
//   sasmint_portable   HmacKey midstates computed once per key, then HmacKey::Sign per token
// Each batch signs with distinct keys (32 bytes) and distinct messages, one per token.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "signer/crypto_backend.h"
#include "signer/hmac_sha256.h"
#include "signer/sas_token.h"

namespace sasmint {
namespace {

constexpr size_t kBatches[] = {1, 16, 64, 256};
constexpr size_t kLengths[] = {55, 60, 100, 200};
constexpr size_t kPoolSize = 256;  // the largest batch: every token in a batch is distinct
constexpr size_t kKeyBytes = 32;
constexpr int64_t kExpiry = 1700000000;  // 10 digits, like any expiry until 2286

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

void BM_HmacOneshot(benchmark::State& state, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      Mac mac = crypto::OracleHmacSha256(c.keys[i], c.messages[i]);
      benchmark::DoNotOptimize(mac);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

void BM_HmacPortable(benchmark::State& state, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  std::vector<HmacKey> keys;
  for (size_t i = 0; i < batch; ++i) keys.push_back(HmacKey::FromBytes(c.keys[i]));
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      Mac mac = keys[i].Sign(c.messages[i]);
      benchmark::DoNotOptimize(mac);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
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

void BM_TokenPortable(benchmark::State& state, size_t batch, size_t len) {
  const Corpus& c = CorpusFor(len);
  std::vector<TokenScope> scopes;
  std::vector<HmacKey> keys;
  for (size_t i = 0; i < batch; ++i) {
    absl::StatusOr<TokenScope> scope = DeviceScopeOfLength(i, len);
    if (!scope.ok()) {
      state.SkipWithError(std::string(scope.status().message()).c_str());
      return;
    }
    scopes.push_back(*std::move(scope));
    keys.push_back(HmacKey::FromBytes(c.keys[i]));
  }
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      absl::StatusOr<std::string> token = BuildToken(scopes[i], keys[i], kExpiry);
      benchmark::DoNotOptimize(token);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}

std::string Name(absl::string_view family, absl::string_view implementation, size_t batch,
                 size_t len) {
  return absl::StrCat(family, "/", implementation, "/batch:", batch, "/len:", len);
}

int RegisterAll() {
  const std::string oneshot = absl::StrCat(crypto::BackendName(), "_oneshot");
  benchmark::AddCustomContext("sasmint_crypto_backend", std::string(crypto::BackendName()));
  for (size_t len : kLengths) {
    for (size_t batch : kBatches) {
      benchmark::RegisterBenchmark(
          Name("BM_Hmac", oneshot, batch, len).c_str(),
          [batch, len](benchmark::State& s) { BM_HmacOneshot(s, batch, len); });
      benchmark::RegisterBenchmark(
          Name("BM_Hmac", "sasmint_portable", batch, len).c_str(),
          [batch, len](benchmark::State& s) { BM_HmacPortable(s, batch, len); });
    }
  }
  for (size_t len : kLengths) {
    for (size_t batch : kBatches) {
      benchmark::RegisterBenchmark(
          Name("BM_Token", "sasmint_portable", batch, len).c_str(),
          [batch, len](benchmark::State& s) { BM_TokenPortable(s, batch, len); });
    }
  }
  return 0;
}

[[maybe_unused]] const int kRegistered = RegisterAll();

}  // namespace
}  // namespace sasmint
