// service_metrics.h: what the service counts, and its Prometheus families.
//
// ServiceMetrics keeps the hot-path counters (gRPC calls, tokens, batch sizes, denials,
// overload, reloads) in ThreadCounters: an update is a few uncontended stores on the calling
// thread's own cache lines. Callers update once per call, batch or stream message (a MintTally
// gathers a batch's tokens on the stack first), never per token. Collect, called by the
// metrics endpoint at each scrape, sums the threads and adds what collectors registered with
// AddCollector report (key store, audit, process). Names and labels: docs/metrics.md. Nothing
// here sees gRPC: methods and codes are small enums. Thread-safe.
#ifndef SASMINT_SERVICE_METRICS_SERVICE_METRICS_H_
#define SASMINT_SERVICE_METRICS_SERVICE_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "service/metrics/thread_counters.h"
#include "signer/sas_token.h"

namespace sasmint {

// RpcMethod is one of the methods sasmint serves (gRPC's own health and reflection are not
// counted).
enum class RpcMethod : uint8_t {
  kMintToken,
  kMintTokens,
  kStreamTokens,
  kVerifyToken,
  kPutKeys,
  kDeleteKeys,
  kListKeys,
};
inline constexpr int kRpcMethods = 7;
inline constexpr int kStatusCodes = 17;  // OK .. UNAUTHENTICATED
inline constexpr int kScopeKinds = 4;    // ScopeKind's values
inline constexpr int kTtlBuckets = 14;   // sasmint_token_ttl_seconds, +Inf included

enum class DenialReason : uint8_t { kNoRule, kScope };
enum class OverloadReason : uint8_t { kQueueFull, kDraining };

// MintTally counts a batch's tokens by scope and result, and their lifetimes, on the minting
// thread's stack; ServiceMetrics::AddTally then updates the counters once.
struct MintTally {
  uint32_t results[kScopeKinds][kStatusCodes] = {};
  uint32_t ttl[kTtlBuckets] = {};
  uint64_t ttl_sum = 0;

  // Count counts one item: its scope, status code, and, when minted, the token's lifetime.
  void Count(ScopeKind kind, absl::StatusCode code, int64_t ttl_seconds) {
    ++results[static_cast<int>(kind)][CodeIndex(code)];
    if (code == absl::StatusCode::kOk) {
      if (ttl_seconds != last_ttl_) {
        last_ttl_ = ttl_seconds;
        last_bucket_ = TtlBucket(ttl_seconds);
      }
      ++ttl[last_bucket_];
      ttl_sum += static_cast<uint64_t>(ttl_seconds > 0 ? ttl_seconds : 0);
    }
  }
  // TtlBucket returns the bucket index of a lifetime in seconds.
  static int TtlBucket(int64_t ttl_seconds);
  // CodeIndex returns the code's index (codes outside gRPC's count as UNKNOWN).
  static int CodeIndex(absl::StatusCode code) {
    const int c = static_cast<int>(code);
    return c >= 0 && c < kStatusCodes ? c : static_cast<int>(absl::StatusCode::kUnknown);
  }

 private:
  int64_t last_ttl_ = -1;
  int last_bucket_ = 0;
};

class ServiceMetrics final : public prometheus::Collectable {
 public:
  // Info is what sasmint_build_info and sasmint_signer_info say.
  struct Info {
    std::string version;
    std::string compiler;
    std::string crypto;
    std::string isa;
  };
  using Collector = std::function<void(std::vector<prometheus::MetricFamily>& out)>;

  explicit ServiceMetrics(Info info);
  ~ServiceMetrics() override;

  // CallStarted counts a call of `method` as it reaches its handler.
  void CallStarted(RpcMethod method);
  // CallHandled counts the end of a call with its status code and how long it took.
  void CallHandled(RpcMethod method, absl::StatusCode code, absl::Duration took);
  // MessageReceived and MessageSent count stream messages.
  void MessageReceived(RpcMethod method, uint64_t n = 1);
  void MessageSent(RpcMethod method, uint64_t n = 1);
  // BatchReceived observes the number of items of one MintTokens call or stream message.
  void BatchReceived(uint64_t items);
  // TokenMinted counts one unary token (or its failure).
  void TokenMinted(ScopeKind kind, absl::StatusCode code, int64_t ttl_seconds);
  // AddTally counts a batch's tokens.
  void AddTally(const MintTally& tally);
  void AuthzDenied(DenialReason reason, uint64_t n = 1);
  void OverloadRejected(OverloadReason reason);
  // KeyReloaded counts a reload of the key files and how long it took.
  void KeyReloaded(bool ok, absl::Duration took);

  // AddCollector registers `fn`, called at every scrape to add families (gauges of state that
  // lives elsewhere). Register before the endpoint starts.
  void AddCollector(Collector fn);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Info info_;
  ThreadCounters counters_;
  mutable std::mutex mu_;
  std::vector<Collector> collectors_;  // guarded by mu_
};

// StatusCodeName returns a status code's gRPC name ("OK", "NOT_FOUND", ...).
const char* StatusCodeName(absl::StatusCode code);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_METRICS_SERVICE_METRICS_H_
