// The pacer: tasks run in due-time order (submission order for equal times), never before they
// are due, late ones at once; tasks may schedule more; tasks not yet due when it stops are
// dropped.
#include "bench/load/pacer.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sasmint::bench {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kMs = 1000 * 1000;

TEST(PacerTest, RunsInDueOrderAndNeverEarly) {
  absl::Mutex mu;
  std::vector<int> order;
  bool early = false;
  absl::Notification last;
  {
    Pacer pacer;
    const int64_t base = MonotonicNanos() + 20 * kMs;
    // Submitted out of order; 2 and 3 share a due time.
    for (const auto& [id, at] : std::vector<std::pair<int, int64_t>>{
             {4, base + 30 * kMs}, {2, base + 10 * kMs}, {1, base}, {3, base + 10 * kMs}}) {
      pacer.RunAt(at, [&, id = id, at = at] {
        absl::MutexLock lock(&mu);
        if (MonotonicNanos() < at) early = true;
        order.push_back(id);
        if (id == 4) last.Notify();
      });
    }
    last.WaitForNotification();
  }
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(early);
}

TEST(PacerTest, PastTimesRunAtOnceAndTasksMayScheduleMore) {
  Pacer pacer;
  absl::Notification chained;
  std::atomic<int> runs{0};
  pacer.RunAt(MonotonicNanos() - 1000 * kMs, [&] {
    ++runs;
    pacer.RunAt(0, [&] {
      ++runs;
      chained.Notify();
    });
  });
  chained.WaitForNotification();
  EXPECT_EQ(runs.load(), 2);
}

TEST(PacerTest, TasksNotYetDueAreDroppedWhenItStops) {
  std::atomic<bool> ran{false};
  {
    Pacer pacer;
    pacer.RunAt(MonotonicNanos() + 3600 * 1000 * kMs, [&] { ran = true; });
  }  // returns at once, not in an hour
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace sasmint::bench
