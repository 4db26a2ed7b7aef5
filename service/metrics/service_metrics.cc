#include "service/metrics/service_metrics.h"

#include <bit>
#include <limits>
#include <utility>

#include "service/metrics/families.h"

namespace sasmint {
namespace {

struct MethodName {
  const char* service;
  const char* method;
  const char* type;
};
constexpr MethodName kMethods[kRpcMethods] = {
    {"sasmint.v1.TokenService", "MintToken", "unary"},
    {"sasmint.v1.TokenService", "MintTokens", "unary"},
    {"sasmint.v1.TokenService", "StreamTokens", "bidi_stream"},
    {"sasmint.v1.TokenService", "VerifyToken", "unary"},
    {"sasmint.v1.KeyAdmin", "PutKeys", "unary"},
    {"sasmint.v1.KeyAdmin", "DeleteKeys", "unary"},
    {"sasmint.v1.KeyAdmin", "ListKeys", "unary"},
};

constexpr const char* kCodeNames[kStatusCodes] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
constexpr const char* kScopeNames[kScopeKinds] = {"device", "module", "policy", "registration"};

// Histogram bounds, in the units the slots count (nanoseconds, items, seconds).
constexpr int64_t kHandlingBoundsNs[] = {10'000,      25'000,      50'000,      100'000,
                                         250'000,     500'000,     1'000'000,   2'500'000,
                                         5'000'000,   10'000'000,  25'000'000,  50'000'000,
                                         100'000'000, 250'000'000, 500'000'000, 1'000'000'000};
constexpr int kHandlingBuckets = std::size(kHandlingBoundsNs) + 1;
constexpr int kBatchBuckets = 16;  // 1, 2, 4, ... 16384, +Inf
constexpr int64_t kTtlBounds[kTtlBuckets - 1] = {60,    300,   600,   900,   1800,   3600,  7200,
                                                 14400, 28800, 43200, 86400, 172800, 604800};
constexpr int64_t kReloadBoundsNs[] = {10'000'000,     50'000'000,     100'000'000,   250'000'000,
                                       500'000'000,    1'000'000'000,  2'500'000'000, 5'000'000'000,
                                       10'000'000'000, 30'000'000'000, 60'000'000'000};
constexpr int kReloadBuckets = std::size(kReloadBoundsNs) + 1;

// Slot layout of the ThreadCounters. Per method: started, handled by code, messages received
// and sent, handling-time buckets and their sum in nanoseconds.
constexpr size_t kStarted = 0;
constexpr size_t kHandled = 1;
constexpr size_t kReceived = kHandled + kStatusCodes;
constexpr size_t kSent = kReceived + 1;
constexpr size_t kHandlingBucket = kSent + 1;
constexpr size_t kHandlingSumNs = kHandlingBucket + kHandlingBuckets;
constexpr size_t kPerMethod = kHandlingSumNs + 1;
constexpr size_t kTokens = kRpcMethods * kPerMethod;  // [scope][code]
constexpr size_t kBatchBucket = kTokens + kScopeKinds * kStatusCodes;
constexpr size_t kBatchSum = kBatchBucket + kBatchBuckets;
constexpr size_t kTtlBucket = kBatchSum + 1;
constexpr size_t kTtlSum = kTtlBucket + kTtlBuckets;
constexpr size_t kAuthz = kTtlSum + 1;      // [DenialReason]
constexpr size_t kOverload = kAuthz + 2;    // [OverloadReason]
constexpr size_t kReloads = kOverload + 2;  // ok, error
constexpr size_t kReloadBucket = kReloads + 2;
constexpr size_t kReloadSumNs = kReloadBucket + kReloadBuckets;
constexpr size_t kSlots = kReloadSumNs + 1;

size_t MethodSlot(RpcMethod m, size_t offset) {
  return static_cast<size_t>(m) * kPerMethod + offset;
}

template <size_t N>
int BucketOf(const int64_t (&bounds)[N], int64_t value) {
  int i = 0;
  while (i < static_cast<int>(N) && value > bounds[i]) ++i;
  return i;
}

// HistogramOf returns the cumulative histogram of `n` buckets at sum[first...], with bounds
// `bounds` scaled by `scale` into the exported unit.
prometheus::ClientMetric::Histogram HistogramOf(const std::vector<uint64_t>& sum, size_t first,
                                                const int64_t* bounds, int n, double scale,
                                                double sample_sum) {
  prometheus::ClientMetric::Histogram h;
  uint64_t cumulative = 0;
  for (int i = 0; i < n; ++i) {
    cumulative += sum[first + i];
    h.bucket.push_back({cumulative, i + 1 < n ? static_cast<double>(bounds[i]) * scale
                                              : std::numeric_limits<double>::infinity()});
  }
  h.sample_count = cumulative;
  h.sample_sum = sample_sum;
  return h;
}

// ResultLabel returns sasmint_tokens_minted_total's result for a code: "ok", or the code's
// name in lower case.
std::string ResultLabel(const char* code) {
  std::string out = code;
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace

int MintTally::TtlBucket(int64_t ttl_seconds) { return BucketOf(kTtlBounds, ttl_seconds); }

const char* StatusCodeName(absl::StatusCode code) { return kCodeNames[MintTally::CodeIndex(code)]; }

ServiceMetrics::ServiceMetrics(Info info) : info_(std::move(info)), counters_(kSlots) {}

ServiceMetrics::~ServiceMetrics() = default;

void ServiceMetrics::CallStarted(RpcMethod method) {
  counters_.Add(MethodSlot(method, kStarted), 1);
}

void ServiceMetrics::CallHandled(RpcMethod method, absl::StatusCode code, absl::Duration took) {
  const int64_t ns = absl::ToInt64Nanoseconds(took);
  counters_.Add(MethodSlot(method, kHandled + MintTally::CodeIndex(code)), 1);
  counters_.Add(MethodSlot(method, kHandlingBucket + BucketOf(kHandlingBoundsNs, ns)), 1);
  counters_.Add(MethodSlot(method, kHandlingSumNs), static_cast<uint64_t>(ns > 0 ? ns : 0));
}

void ServiceMetrics::MessageReceived(RpcMethod method, uint64_t n) {
  counters_.Add(MethodSlot(method, kReceived), n);
}

void ServiceMetrics::MessageSent(RpcMethod method, uint64_t n) {
  counters_.Add(MethodSlot(method, kSent), n);
}

void ServiceMetrics::BatchReceived(uint64_t items) {
  const int bucket = items <= 1 ? 0 : std::min<int>(kBatchBuckets - 1, std::bit_width(items - 1));
  counters_.Add(kBatchBucket + bucket, 1);
  counters_.Add(kBatchSum, items);
}

void ServiceMetrics::TokenMinted(ScopeKind kind, absl::StatusCode code, int64_t ttl_seconds) {
  counters_.Add(kTokens + static_cast<size_t>(kind) * kStatusCodes + MintTally::CodeIndex(code), 1);
  if (code == absl::StatusCode::kOk) {
    counters_.Add(kTtlBucket + MintTally::TtlBucket(ttl_seconds), 1);
    counters_.Add(kTtlSum, static_cast<uint64_t>(ttl_seconds > 0 ? ttl_seconds : 0));
  }
}

void ServiceMetrics::AddTally(const MintTally& tally) {
  for (int s = 0; s < kScopeKinds; ++s) {
    for (int c = 0; c < kStatusCodes; ++c) {
      if (tally.results[s][c] != 0) {
        counters_.Add(kTokens + s * kStatusCodes + c, tally.results[s][c]);
      }
    }
  }
  for (int b = 0; b < kTtlBuckets; ++b) {
    if (tally.ttl[b] != 0) counters_.Add(kTtlBucket + b, tally.ttl[b]);
  }
  if (tally.ttl_sum != 0) counters_.Add(kTtlSum, tally.ttl_sum);
}

void ServiceMetrics::AuthzDenied(DenialReason reason, uint64_t n) {
  counters_.Add(kAuthz + static_cast<size_t>(reason), n);
}

void ServiceMetrics::OverloadRejected(OverloadReason reason) {
  counters_.Add(kOverload + static_cast<size_t>(reason), 1);
}

void ServiceMetrics::KeyReloaded(bool ok, absl::Duration took) {
  const int64_t ns = absl::ToInt64Nanoseconds(took);
  counters_.Add(kReloads + (ok ? 0 : 1), 1);
  counters_.Add(kReloadBucket + BucketOf(kReloadBoundsNs, ns), 1);
  counters_.Add(kReloadSumNs, static_cast<uint64_t>(ns > 0 ? ns : 0));
}

void ServiceMetrics::AddCollector(Collector fn) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.push_back(std::move(fn));
}

std::vector<prometheus::MetricFamily> ServiceMetrics::Collect() const {
  const std::vector<uint64_t> sum = counters_.Sum();
  std::vector<prometheus::MetricFamily> out;

  prometheus::MetricFamily started = Family(
      "grpc_server_started_total", "RPCs started on the server.", prometheus::MetricType::Counter);
  prometheus::MetricFamily handled =
      Family("grpc_server_handled_total",
             "RPCs completed on the server, regardless of success or failure.",
             prometheus::MetricType::Counter);
  prometheus::MetricFamily handling = Family(
      "grpc_server_handling_seconds", "Response latency (seconds) of RPCs handled by the server.",
      prometheus::MetricType::Histogram);
  prometheus::MetricFamily received =
      Family("grpc_server_msg_received_total", "RPC stream messages received on the server.",
             prometheus::MetricType::Counter);
  prometheus::MetricFamily sent =
      Family("grpc_server_msg_sent_total", "gRPC stream messages sent by the server.",
             prometheus::MetricType::Counter);
  int64_t inflight = 0;
  for (int m = 0; m < kRpcMethods; ++m) {
    const MethodName& name = kMethods[m];
    const Labels labels = {
        {"grpc_service", name.service}, {"grpc_method", name.method}, {"grpc_type", name.type}};
    const size_t base = static_cast<size_t>(m) * kPerMethod;
    AddValue(started, labels, static_cast<double>(sum[base + kStarted]));
    uint64_t finished = 0;
    for (int c = 0; c < kStatusCodes; ++c) {
      Labels with_code = labels;
      with_code.push_back({"grpc_code", kCodeNames[c]});
      AddValue(handled, with_code, static_cast<double>(sum[base + kHandled + c]));
      finished += sum[base + kHandled + c];
    }
    AddValue(received, labels, static_cast<double>(sum[base + kReceived]));
    AddValue(sent, labels, static_cast<double>(sum[base + kSent]));
    AddHistogram(handling, labels,
                 HistogramOf(sum, base + kHandlingBucket, kHandlingBoundsNs, kHandlingBuckets, 1e-9,
                             static_cast<double>(sum[base + kHandlingSumNs]) * 1e-9));
    inflight += static_cast<int64_t>(sum[base + kStarted] - finished);
    if (static_cast<RpcMethod>(m) == RpcMethod::kStreamTokens) {
      AddGauge(out, "sasmint_open_streams", "StreamTokens streams open.",
               static_cast<double>(static_cast<int64_t>(sum[base + kStarted] - finished)));
    }
  }
  for (prometheus::MetricFamily* f : {&started, &handled, &handling, &received, &sent}) {
    out.push_back(std::move(*f));
  }
  AddGauge(out, "sasmint_inflight_calls", "Calls started and not yet finished.",
           static_cast<double>(inflight));

  prometheus::MetricFamily tokens =
      Family("sasmint_tokens_minted_total",
             "Tokens asked for, by scope and result (ok: minted; otherwise the item's status).",
             prometheus::MetricType::Counter);
  for (int s = 0; s < kScopeKinds; ++s) {
    for (int c = 0; c < kStatusCodes; ++c) {
      AddValue(tokens, {{"scope", kScopeNames[s]}, {"result", ResultLabel(kCodeNames[c])}},
               static_cast<double>(sum[kTokens + s * kStatusCodes + c]));
    }
  }
  out.push_back(std::move(tokens));
  {
    static constexpr int64_t kBatchBounds[kBatchBuckets - 1] = {
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
    prometheus::MetricFamily batch =
        Family("sasmint_mint_batch_size", "Items per MintTokens call or StreamTokens message.",
               prometheus::MetricType::Histogram);
    AddHistogram(batch, {},
                 HistogramOf(sum, kBatchBucket, kBatchBounds, kBatchBuckets, 1.0,
                             static_cast<double>(sum[kBatchSum])));
    out.push_back(std::move(batch));
    prometheus::MetricFamily ttl =
        Family("sasmint_token_ttl_seconds", "Lifetime of the tokens minted.",
               prometheus::MetricType::Histogram);
    AddHistogram(ttl, {},
                 HistogramOf(sum, kTtlBucket, kTtlBounds, kTtlBuckets, 1.0,
                             static_cast<double>(sum[kTtlSum])));
    out.push_back(std::move(ttl));
  }
  prometheus::MetricFamily denials =
      Family("sasmint_authz_denials_total",
             "Refusals by the caller rules: no_rule (no rule matches the caller; the call is "
             "refused), scope (items outside the caller's rule).",
             prometheus::MetricType::Counter);
  AddValue(denials, {{"reason", "no_rule"}}, static_cast<double>(sum[kAuthz + 0]));
  AddValue(denials, {{"reason", "scope"}}, static_cast<double>(sum[kAuthz + 1]));
  out.push_back(std::move(denials));
  prometheus::MetricFamily overload =
      Family("sasmint_overload_rejections_total",
             "Calls and batches refused to protect the server: queue_full (the batch pool's "
             "queue), draining (shutting down).",
             prometheus::MetricType::Counter);
  AddValue(overload, {{"reason", "queue_full"}}, static_cast<double>(sum[kOverload + 0]));
  AddValue(overload, {{"reason", "draining"}}, static_cast<double>(sum[kOverload + 1]));
  out.push_back(std::move(overload));
  prometheus::MetricFamily reloads =
      Family("sasmint_keystore_reloads_total", "Reloads of the key files, by result.",
             prometheus::MetricType::Counter);
  AddValue(reloads, {{"result", "ok"}}, static_cast<double>(sum[kReloads + 0]));
  AddValue(reloads, {{"result", "error"}}, static_cast<double>(sum[kReloads + 1]));
  out.push_back(std::move(reloads));
  prometheus::MetricFamily reload_time =
      Family("sasmint_keystore_reload_duration_seconds",
             "Time to rebuild and publish the key store from its files.",
             prometheus::MetricType::Histogram);
  AddHistogram(reload_time, {},
               HistogramOf(sum, kReloadBucket, kReloadBoundsNs, kReloadBuckets, 1e-9,
                           static_cast<double>(sum[kReloadSumNs]) * 1e-9));
  out.push_back(std::move(reload_time));

  AddGauge(out, "sasmint_build_info", "sasmint's version and build.", 1,
           {{"version", info_.version}, {"compiler", info_.compiler}, {"crypto", info_.crypto}});
  AddGauge(out, "sasmint_signer_info", "The signing kernels in use.", 1, {{"isa", info_.isa}});

  std::vector<Collector> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    collectors = collectors_;
  }
  for (const Collector& c : collectors) c(out);
  return out;
}

}  // namespace sasmint
