#include "bench/load/load_stats.h"

#include <algorithm>

namespace sasmint::bench {

void LoadTotals::Merge(const LoadTotals& other) {
  tokens += other.tokens;
  errors += other.errors;
  for (int i = 0; i < kCodeSlots; ++i) errors_by_code[i] += other.errors_by_code[i];
  rpcs += other.rpcs;
  failed_rpcs += other.failed_rpcs;
  unsent += other.unsent;
  latency.Merge(other.latency);
  last_completion_ns = std::max(last_completion_ns, other.last_completion_ns);
}

Recorder::Shard& Recorder::ThisThreadsShard() {
  // gRPC runs callbacks on a handful of threads; giving each its own shard keeps them from
  // contending, and a thread keeps its shard for life.
  static std::atomic<int> next_shard{0};
  thread_local const int shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[shard];
}

void Recorder::Record(const Outcome& outcome, int64_t intended_ns, int64_t done_ns, bool measured) {
  live_tokens_.fetch_add(outcome.tokens, std::memory_order_relaxed);
  live_errors_.fetch_add(outcome.errors, std::memory_order_relaxed);
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (!measured && !keep_windows_) return;
  Shard& shard = ThisThreadsShard();
  absl::MutexLock lock(&shard.mu);
  if (keep_windows_) {
    SeriesWindow& w = shard.window;
    ++w.rpcs;
    w.tokens += outcome.tokens;
    w.errors += outcome.errors;
    if (outcome.rpc_ok) w.latency.Record(done_ns - intended_ns);
  }
  if (!measured) return;
  LoadTotals& t = shard.totals;
  t.tokens += outcome.tokens;
  t.errors += outcome.errors;
  for (int i = 0; i < kCodeSlots; ++i) t.errors_by_code[i] += outcome.errors_by_code[i];
  ++t.rpcs;
  if (outcome.rpc_ok) {
    t.latency.Record(done_ns - intended_ns);
  } else {
    ++t.failed_rpcs;
  }
  t.last_completion_ns = std::max(t.last_completion_ns, done_ns);
}

void Recorder::RecordUnsent(int64_t latency_ns, int64_t count) {
  Shard& shard = ThisThreadsShard();
  absl::MutexLock lock(&shard.mu);
  shard.totals.unsent += count;
  shard.totals.latency.Record(latency_ns, count);
}

void Recorder::RequestStarted(int64_t lag_ns) {
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (keep_windows_) started_.fetch_add(1, std::memory_order_relaxed);
  int64_t seen = max_lag_ns_.load(std::memory_order_relaxed);
  while (lag_ns > seen &&
         !max_lag_ns_.compare_exchange_weak(seen, lag_ns, std::memory_order_relaxed)) {
  }
}

SeriesWindow Recorder::TakeWindow() {
  SeriesWindow out;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    out.rpcs += shard.window.rpcs;
    out.tokens += shard.window.tokens;
    out.errors += shard.window.errors;
    out.latency.Merge(shard.window.latency);
    shard.window.rpcs = shard.window.tokens = shard.window.errors = 0;
    shard.window.latency.Clear();
  }
  const int64_t started = started_.load(std::memory_order_relaxed);
  out.started = started - started_taken_;
  started_taken_ = started;
  return out;
}

LoadTotals Recorder::Totals() const {
  LoadTotals out;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    out.Merge(shard.totals);
  }
  return out;
}

}  // namespace sasmint::bench
