// Reader epochs: a writer's WaitForReaders waits for every section open when it was called,
// and for none opened later; sections nest; readers never wait.
#include "service/keystore/internal/reader_epochs.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace sasmint::internal {
namespace {

using std::chrono::milliseconds;

TEST(ReaderEpochsTest, WaitForReadersReturnsAtOnceWithNoReader) {
  WaitForReaders();
  { ReaderSection section; }
  WaitForReaders();
}

TEST(ReaderEpochsTest, WaitsForAnOpenSectionUntilItCloses) {
  std::atomic<bool> entered{false}, release{false}, closed{false};
  std::thread reader([&] {
    ReaderSection section;
    EXPECT_TRUE(section.entered());
    entered = true;
    while (!release) std::this_thread::sleep_for(milliseconds(1));
    closed = true;
  });
  while (!entered) std::this_thread::sleep_for(milliseconds(1));
  std::atomic<bool> waited{false};
  std::thread writer([&] {
    WaitForReaders();
    // Returning before the reader closed would let a table be freed under it.
    EXPECT_TRUE(closed.load());
    waited = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(waited.load());
  release = true;
  writer.join();
  reader.join();
  EXPECT_TRUE(waited.load());
}

TEST(ReaderEpochsTest, NestedSectionsHoldUntilTheOutermostCloses) {
  std::atomic<int> stage{0};
  std::atomic<bool> waited{false};
  std::thread reader([&] {
    ReaderSection outer;
    {
      ReaderSection inner;
      stage = 1;
      while (stage < 2) std::this_thread::sleep_for(milliseconds(1));
    }
    // The inner section is closed, the outer still open: the writer must still wait.
    std::this_thread::sleep_for(milliseconds(30));
    EXPECT_FALSE(waited.load());
    stage = 3;
  });
  while (stage < 1) std::this_thread::sleep_for(milliseconds(1));
  std::thread writer([&] {
    WaitForReaders();
    waited = true;
  });
  stage = 2;
  writer.join();
  reader.join();
  EXPECT_EQ(stage.load(), 3);
}

TEST(ReaderEpochsTest, SectionsOpenedAfterTheCallAreNotWaitedFor) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  // Readers that keep opening new sections: the writer must not starve behind them.
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        ReaderSection section;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (int i = 0; i < 50; ++i) WaitForReaders();
  stop = true;
  for (std::thread& r : readers) r.join();
}

}  // namespace
}  // namespace sasmint::internal
