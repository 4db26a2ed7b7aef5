#include "service/metrics/thread_counters.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace sasmint {
namespace {

TEST(ThreadCountersTest, SumsEveryThreadAndKeepsWhatExitedThreadsCounted) {
  ThreadCounters counters(3);
  constexpr int kThreads = 8;
  constexpr int kAdds = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counters, t] {
      for (int i = 0; i < kAdds; ++i) {
        counters.Add(0, 1);
        counters.Add(1, static_cast<uint64_t>(t));
      }
    });
  }
  // Sums taken while threads run and exit never go down.
  uint64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    const uint64_t now = counters.Sum()[0];
    EXPECT_GE(now, last);
    last = now;
  }
  for (std::thread& t : threads) t.join();
  const std::vector<uint64_t> sum = counters.Sum();
  EXPECT_EQ(sum[0], uint64_t{kThreads} * kAdds);
  EXPECT_EQ(sum[1], uint64_t{kAdds} * (kThreads * (kThreads - 1) / 2));
  EXPECT_EQ(sum[2], 0u);
}

TEST(ThreadCountersTest, GaugeDeltasFromDifferentThreadsSumToTheValue) {
  ThreadCounters counters(1);
  std::thread up([&] {
    for (int i = 0; i < 10; ++i) counters.Add(0, 1);
  });
  up.join();
  std::thread down([&] {
    for (int i = 0; i < 7; ++i) counters.Add(0, static_cast<uint64_t>(-1));
  });
  down.join();
  EXPECT_EQ(static_cast<int64_t>(counters.Sum()[0]), 3);
}

TEST(ThreadCountersTest, InstancesAreSeparateEvenWhenOneThreadUsesSeveral) {
  auto a = std::make_unique<ThreadCounters>(1);
  ThreadCounters b(1);
  for (int i = 0; i < 5; ++i) {
    a->Add(0, 1);
    b.Add(0, 2);
  }
  EXPECT_EQ(a->Sum()[0], 5u);
  EXPECT_EQ(b.Sum()[0], 10u);
  // A destroyed instance's blocks are dropped; a new one at the same address starts at zero.
  a.reset();
  auto c = std::make_unique<ThreadCounters>(1);
  c->Add(0, 1);
  EXPECT_EQ(c->Sum()[0], 1u);
  EXPECT_EQ(b.Sum()[0], 10u);
}

TEST(ThreadCountersTest, InstanceMayGoBeforeTheThreadsThatUpdatedIt) {
  auto counters = std::make_unique<ThreadCounters>(2);
  std::atomic<bool> release{false};
  std::thread t([&] {
    counters->Add(1, 4);
    while (!release.load()) std::this_thread::yield();
  });
  while (counters->Sum()[1] != 4) std::this_thread::yield();
  counters.reset();
  release.store(true);
  t.join();  // the thread frees its block at exit without touching the destroyed instance
}

}  // namespace
}  // namespace sasmint
