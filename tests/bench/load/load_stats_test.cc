// The load client's statistics: shards written by many threads add up to the same totals as
// one thread's, measured and live counts are kept apart, unsent requests count at their lower
// bound, and the lag maximum resets when taken.
#include "bench/load/load_stats.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace sasmint::bench {
namespace {

Outcome Tokens(int64_t tokens, int64_t errors, int code) {
  Outcome o;
  o.rpc_ok = true;
  o.tokens = tokens;
  if (errors > 0) o.AddErrors(code, errors);
  return o;
}

TEST(LoadStatsTest, ShardsFromManyThreadsAddUp) {
  Recorder recorder;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        recorder.RequestStarted(i);
        // Latency t * 1000 + i ns; every tenth request measured out of the window.
        recorder.Record(Tokens(3, 1, 5), 0, t * 1000 + i, i % 10 != 0);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const LoadTotals totals = recorder.Totals();
  constexpr int64_t kMeasured = kThreads * kPerThread * 9 / 10;
  EXPECT_EQ(totals.rpcs, kMeasured);
  EXPECT_EQ(totals.tokens, 3 * kMeasured);
  EXPECT_EQ(totals.errors, kMeasured);
  EXPECT_EQ(totals.errors_by_code[5], kMeasured);  // NOT_FOUND
  EXPECT_EQ(totals.failed_rpcs, 0);
  EXPECT_EQ(totals.latency.count(), kMeasured);
  EXPECT_EQ(totals.latency.max(), (kThreads - 1) * 1000 + kPerThread - 1);
  EXPECT_EQ(totals.last_completion_ns, (kThreads - 1) * 1000 + kPerThread - 1);
  // The live counters see everything, measured or not.
  EXPECT_EQ(recorder.live_tokens(), 3 * kThreads * kPerThread);
  EXPECT_EQ(recorder.live_errors(), kThreads * kPerThread);
  EXPECT_EQ(recorder.in_flight(), 0);
  EXPECT_EQ(recorder.TakeMaxLag(), kPerThread - 1);
  EXPECT_EQ(recorder.TakeMaxLag(), 0);
}

TEST(LoadStatsTest, FailedRpcsAndUnsentRequests) {
  Recorder recorder;
  Outcome failed;
  failed.AddErrors(14, 100);  // UNAVAILABLE, a whole batch
  recorder.RequestStarted(0);
  recorder.Record(failed, 0, 50, true);
  recorder.RecordUnsent(7000, 4);
  recorder.RequestStarted(0);
  recorder.RequestAbandoned();
  const LoadTotals t = recorder.Totals();
  EXPECT_EQ(t.rpcs, 1);
  EXPECT_EQ(t.failed_rpcs, 1);
  EXPECT_EQ(t.errors, 100);
  EXPECT_EQ(t.errors_by_code[14], 100);
  EXPECT_EQ(t.unsent, 4);
  // A failed RPC has no latency; unsent requests count at their lower bound.
  EXPECT_EQ(t.latency.count(), 4);
  EXPECT_EQ(t.latency.max(), 7000);
  EXPECT_EQ(recorder.in_flight(), 0);
}

TEST(LoadStatsTest, MergeAddsEveryField) {
  LoadTotals a, b;
  a.tokens = 1;
  a.errors = 2;
  a.errors_by_code[3] = 2;
  a.rpcs = 4;
  a.latency.Record(100);
  a.last_completion_ns = 9;
  b.tokens = 10;
  b.failed_rpcs = 1;
  b.unsent = 5;
  b.errors_by_code[kCodeSlots - 1] = 7;
  b.latency.Record(300);
  b.last_completion_ns = 5;
  a.Merge(b);
  EXPECT_EQ(a.tokens, 11);
  EXPECT_EQ(a.errors, 2);
  EXPECT_EQ(a.errors_by_code[3], 2);
  EXPECT_EQ(a.errors_by_code[kCodeSlots - 1], 7);
  EXPECT_EQ(a.rpcs, 4);
  EXPECT_EQ(a.failed_rpcs, 1);
  EXPECT_EQ(a.unsent, 5);
  EXPECT_EQ(a.latency.count(), 2);
  EXPECT_EQ(a.latency.max(), 300);
  EXPECT_EQ(a.last_completion_ns, 9);
}

}  // namespace
}  // namespace sasmint::bench
