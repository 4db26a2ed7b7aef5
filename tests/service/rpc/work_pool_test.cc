#include "service/rpc/work_pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

// Notification is a one-shot signal on std::mutex (this test also runs under ThreadSanitizer,
// which cannot see Debian's uninstrumented Notification).
class Notification {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      notified_ = true;
    }
    cv_.notify_all();
  }
  void WaitForNotification() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

// Records its slices into a shared log; the first slice of the first task can be held until
// released, so the test controls what is queued behind it.
class RecordingTask : public SlicedTask {
 public:
  RecordingTask(char name, int slices, std::mutex* mu, std::string* log,
                Notification* hold = nullptr, Notification* started = nullptr)
      : name_(name), slices_(slices), mu_(mu), log_(log), hold_(hold), started_(started) {}

  bool RunSlice() override {
    if (started_ != nullptr) started_->Notify();
    if (hold_ != nullptr) hold_->WaitForNotification();
    std::lock_guard<std::mutex> lock(*mu_);
    log_->push_back(name_);
    return --slices_ > 0;
  }
  void Finish() override {
    std::lock_guard<std::mutex> lock(*mu_);
    log_->push_back('.');
    finished_ = true;
  }
  bool finished() const { return finished_; }

 private:
  const char name_;
  int slices_;
  std::mutex* mu_;
  std::string* log_;
  Notification* hold_;
  Notification* started_;
  bool finished_ = false;
};

TEST(WorkPoolTest, SlicesOfConcurrentTasksInterleaveRoundRobin) {
  std::mutex mu;
  std::string log;
  Notification release, started;
  RecordingTask gate('g', 1, &mu, &log, &release, &started);
  RecordingTask big('A', 5, &mu, &log);
  RecordingTask small('b', 2, &mu, &log);
  {
    WorkPool pool(1, 16);
    ASSERT_THAT(pool.Submit(&gate), IsOk());
    started.WaitForNotification();  // the single thread is busy: A and b queue behind it
    ASSERT_THAT(pool.Submit(&big), IsOk());
    ASSERT_THAT(pool.Submit(&small), IsOk());
    release.Notify();
  }  // the destructor runs everything queued
  // The small task finishes after two of the big task's slices, not after all five.
  EXPECT_EQ(log, "g.AbAb.AAA.");
  EXPECT_TRUE(big.finished());
  EXPECT_TRUE(small.finished());
}

TEST(WorkPoolTest, RefusesWorkBeyondTheBound) {
  std::mutex mu;
  std::string log;
  Notification release, started;
  RecordingTask gate('g', 1, &mu, &log, &release, &started);
  RecordingTask a('a', 1, &mu, &log), b('b', 1, &mu, &log);
  {
    WorkPool pool(1, 2);
    ASSERT_THAT(pool.Submit(&gate), IsOk());
    started.WaitForNotification();
    ASSERT_THAT(pool.Submit(&a), IsOk());
    EXPECT_EQ(pool.queued(), 2u);
    EXPECT_THAT(pool.Submit(&b),
                StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("overloaded")));
    release.Notify();
  }
  EXPECT_EQ(log, "g.a.");
  EXPECT_FALSE(b.finished());
}

TEST(WorkPoolTest, ManyThreadsRunEverySliceOnce) {
  class Counter : public SlicedTask {
   public:
    explicit Counter(std::atomic<int>* total) : total_(total) {}
    bool RunSlice() override {
      ++*total_;
      return --left_ > 0;
    }
    void Finish() override { finished_ = true; }
    int left_ = 10;
    bool finished_ = false;
    std::atomic<int>* total_;
  };
  std::atomic<int> total{0};
  std::vector<std::unique_ptr<Counter>> tasks;
  {
    WorkPool pool(4, 1000);
    for (int i = 0; i < 200; ++i) {
      tasks.push_back(std::make_unique<Counter>(&total));
      ASSERT_THAT(pool.Submit(tasks.back().get()), IsOk());
    }
  }
  EXPECT_EQ(total.load(), 2000);
  for (const auto& t : tasks) EXPECT_TRUE(t->finished_);
}

}  // namespace
}  // namespace sasmint
