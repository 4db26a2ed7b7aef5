#include "service/admin/file_watcher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/secret_volume.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint {
namespace {

using ::sasmint::testing::FakeSecretVolume;
using ::sasmint::testing::WriteInPlace;

using ::sasmint::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(3);  // generous bound for a report to arrive

// Recorder collects on_change calls; tests wait on it with timeouts instead of sleeping.
// std::mutex rather than absl::Mutex: Debian's prebuilt Abseil is not instrumented for
// ThreadSanitizer, which then reports false races on data an absl::Mutex guards. With std::mutex
// this test runs clean under -fsanitize=thread and checks the watcher's own threading.
class Recorder {
 public:
  FileWatcher::Callback Callback() {
    return [this](const std::vector<std::string>& changed) {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(changed);
      cv_.notify_all();
    };
  }
  // WaitForCalls returns true once at least `n` calls have been made, false after `timeout`.
  bool WaitForCalls(size_t n, absl::Duration timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                        [&] { return calls_.size() >= n; });
  }
  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<std::string>> calls_;  // guarded by mu_
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// ReplaceByRename writes a temporary file beside `path` and renames it over `path`, as editors,
// config managers and `kubectl cp`-style tools do (IN_MOVED_TO; the old inode is gone).
void ReplaceByRename(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  WriteInPlace(tmp, contents);
  ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0);
}

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = sasmint::testing::MakeTempDir(); }
  void TearDown() override {
    watcher_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  void StartWatching(std::vector<std::string> paths, FileWatcher::Options options = Fast()) {
    ASSERT_OK_AND_ASSIGN(watcher_,
                         FileWatcher::Start(std::move(paths), options, recorder_.Callback()));
  }

  static FileWatcher::Options Fast() {
    FileWatcher::Options options;
    options.debounce = absl::Milliseconds(50);
    options.recheck_interval = absl::InfiniteDuration();  // tests of inotify see inotify alone
    return options;
  }

  std::string dir_;
  Recorder recorder_;
  std::unique_ptr<FileWatcher> watcher_;
};

TEST_F(FileWatcherTest, InPlaceRewriteIsReported) {
  WriteInPlace(Path("keys.json"), "v1");
  StartWatching({Path("keys.json")});
  WriteInPlace(Path("keys.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, AtomicRenameReplacementIsReported) {
  WriteInPlace(Path("keys.json"), "v1");
  StartWatching({Path("keys.json")});
  ReplaceByRename(Path("keys.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
  // The watch follows the name, not the replaced inode: a second replacement is seen too.
  ReplaceByRename(Path("keys.json"), "v3");
  ASSERT_TRUE(recorder_.WaitForCalls(2));
  EXPECT_THAT(recorder_.calls()[1], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, KubernetesDataSymlinkSwapIsReported) {
  FakeSecretVolume volume(dir_);
  volume.Update({{"primary", "key-v1"}, {"config.yaml", "hubs: []"}});
  ASSERT_EQ(ReadAll(Path("primary")), "key-v1");
  // `added` is not in the payload yet: kubelet creates its symlink during a later update.
  FileWatcher::Options options = Fast();
  options.debounce = absl::Milliseconds(200);  // one report per swap even on a busy machine
  StartWatching({Path("primary"), Path("added")}, options);

  for (int round = 2; round <= 4; ++round) {
    const std::string key = absl::StrCat("key-v", round);
    volume.Update({{"primary", key}, {"config.yaml", "hubs: []"}, {"added", key}});
    ASSERT_TRUE(recorder_.WaitForCalls(round - 1)) << "round " << round;
    // The report names both watched files, is delivered once for the whole swap sequence, and
    // the path then reads the new payload.
    EXPECT_THAT(recorder_.calls()[round - 2], ElementsAre(Path("primary"), Path("added")));
    EXPECT_EQ(ReadAll(Path("primary")), key);
    EXPECT_EQ(ReadAll(Path("added")), key);
  }
  EXPECT_EQ(recorder_.count(), 3u);
}

TEST_F(FileWatcherTest, KubernetesDataRenameAloneIsReported) {
  FakeSecretVolume volume(dir_);
  volume.KeepOldVersions();
  volume.Update({{"primary", "key-v1"}, {"secondary", "key-v1"}});
  WriteInPlace(Path("plain.json"), "v1");  // not a symlink: a ..data swap does not concern it
  StartWatching({Path("primary"), Path("plain.json")});
  volume.Update({{"primary", "key-v2"}, {"secondary", "key-v2"}});
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("primary")));
  EXPECT_EQ(ReadAll(Path("primary")), "key-v2");
}

TEST_F(FileWatcherTest, DeleteThenRecreateIsReportedTwice) {
  WriteInPlace(Path("keys.json"), "v1");
  StartWatching({Path("keys.json")});
  ASSERT_EQ(unlink(Path("keys.json").c_str()), 0);
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
  WriteInPlace(Path("keys.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(2));
  EXPECT_THAT(recorder_.calls()[1], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, FileThatDoesNotExistYetIsReportedWhenCreated) {
  StartWatching({Path("later.json")});
  ReplaceByRename(Path("later.json"), "v1");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("later.json")));
}

TEST_F(FileWatcherTest, UnrelatedFilesInTheSameDirectoryAreNotReported) {
  WriteInPlace(Path("keys.json"), "v1");
  WriteInPlace(Path("other.json"), "v1");
  WriteInPlace(Path("keys.json.bak"), "v1");
  StartWatching({Path("keys.json")});
  WriteInPlace(Path("other.json"), "v2");
  ReplaceByRename(Path("keys.json.bak"), "v2");  // also writes and renames keys.json.bak.tmp
  ASSERT_EQ(unlink(Path("other.json").c_str()), 0);
  ASSERT_EQ(mkdir(Path("subdir").c_str(), 0755), 0);
  EXPECT_FALSE(recorder_.WaitForCalls(1, absl::Milliseconds(300)));
  EXPECT_GT(watcher_->stats().inotify_events, 0u);

  WriteInPlace(Path("keys.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, OnlyTheChangedOfSeveralFilesIsReported) {
  WriteInPlace(Path("a.json"), "v1");
  WriteInPlace(Path("b.json"), "v1");
  StartWatching({Path("a.json"), Path("b.json"), Path("a.json")});  // duplicates collapse
  WriteInPlace(Path("b.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("b.json")));
}

TEST_F(FileWatcherTest, DebounceCollapsesABurstIntoOneReport) {
  WriteInPlace(Path("keys.json"), "v0");
  FileWatcher::Options options = Fast();
  options.debounce = absl::Milliseconds(200);
  StartWatching({Path("keys.json")}, options);
  for (int i = 1; i <= 20; ++i) {
    if (i % 2 == 0) {
      WriteInPlace(Path("keys.json"), absl::StrCat("v", i));
    } else {
      ReplaceByRename(Path("keys.json"), absl::StrCat("v", i));
    }
  }
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_FALSE(recorder_.WaitForCalls(2, absl::Milliseconds(500)));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, SymlinkTargetInAnotherDirectoryIsWatched) {
  const std::string target_dir = Path("real");
  ASSERT_EQ(mkdir(target_dir.c_str(), 0755), 0);
  WriteInPlace(target_dir + "/keys.json", "v1");
  ASSERT_EQ(symlink((target_dir + "/keys.json").c_str(), Path("keys.json").c_str()), 0);
  StartWatching({Path("keys.json")});
  WriteInPlace(target_dir + "/keys.json", "v2");  // nothing happens in the link's directory
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, PeriodicRecheckFindsChangesWithoutInotify) {
  WriteInPlace(Path("keys.json"), "v1");
  FileWatcher::Options options = Fast();
  options.use_inotify = false;
  options.recheck_interval = absl::Milliseconds(100);
  StartWatching({Path("keys.json")}, options);
  EXPECT_FALSE(recorder_.WaitForCalls(1, absl::Milliseconds(300)));  // nothing changed yet

  ReplaceByRename(Path("keys.json"), "v2 (new inode)");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre(Path("keys.json")));
  EXPECT_EQ(watcher_->stats().recheck_detections, 1u);
  EXPECT_EQ(watcher_->stats().inotify_events, 0u);

  ASSERT_EQ(unlink(Path("keys.json").c_str()), 0);
  ASSERT_TRUE(recorder_.WaitForCalls(2));
  EXPECT_THAT(recorder_.calls()[1], ElementsAre(Path("keys.json")));
}

TEST_F(FileWatcherTest, QueueOverflowReportsEveryFile) {
  std::ifstream limit_file("/proc/sys/fs/inotify/max_queued_events");
  int limit = 0;
  if (!(limit_file >> limit) || limit > 100000) {
    GTEST_SKIP() << "max_queued_events is " << limit << ": too many events to overflow quickly";
  }
  WriteInPlace(Path("a.json"), "v1");
  WriteInPlace(Path("b.json"), "v1");
  // The first report blocks the watcher thread while the kernel queue overflows.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::vector<std::string>> reports;
  auto on_change = [&](const std::vector<std::string>& changed) {
    std::unique_lock<std::mutex> lock(mu);
    reports.push_back(changed);
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  auto reports_at_least = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, absl::ToChronoMilliseconds(kWait),
                       [&] { return reports.size() >= n; });
  };
  auto unblock = [&] {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
  };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<FileWatcher> watcher,
                       FileWatcher::Start({Path("a.json"), Path("b.json")}, Fast(), on_change));
  absl::Cleanup unblock_on_exit = unblock;  // runs before `watcher` dies, even on a failed ASSERT

  WriteInPlace(Path("a.json"), "v2");
  ASSERT_TRUE(reports_at_least(1));
  // Unrelated names: three events each (IN_CREATE, IN_CLOSE_WRITE, IN_DELETE).
  for (int i = 0; i < limit / 3 + 100; ++i) {
    const std::string p = Path(absl::StrCat("noise", i));
    WriteInPlace(p, "");
    ASSERT_EQ(unlink(p.c_str()), 0);
  }
  unblock();
  ASSERT_TRUE(reports_at_least(2));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(reports[0], ElementsAre(Path("a.json")));
  EXPECT_THAT(reports[1], ElementsAre(Path("a.json"), Path("b.json")));
  EXPECT_GE(watcher->stats().overflows, 1u);
}

TEST_F(FileWatcherTest, DestructorReturnsPromptly) {
  WriteInPlace(Path("keys.json"), "v1");
  FileWatcher::Options options;
  options.debounce = absl::Seconds(30);
  options.recheck_interval = absl::Seconds(60);
  StartWatching({Path("keys.json")}, options);
  WriteInPlace(Path("keys.json"), "v2");  // a report now pending for 30 s
  absl::SleepFor(absl::Milliseconds(20));
  const absl::Time start = absl::Now();
  watcher_.reset();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_EQ(recorder_.count(), 0u);
}

TEST_F(FileWatcherTest, StartValidatesPaths) {
  Recorder r;
  EXPECT_THAT(FileWatcher::Start({Path("missing-dir/keys.json")}, Fast(), r.Callback()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing-dir")));
  EXPECT_THAT(FileWatcher::Start({""}, Fast(), r.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(FileWatcher::Start({dir_}, Fast(), r.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("directory")));
  EXPECT_THAT(FileWatcher::Start({dir_ + "/"}, Fast(), r.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no file")));
  EXPECT_OK(FileWatcher::Start({}, Fast(), r.Callback()));
}

TEST_F(FileWatcherTest, RelativePathsAreReportedAsGiven) {
  WriteInPlace(Path("keys.json"), "v1");
  char* cwd = getcwd(nullptr, 0);
  ASSERT_NE(cwd, nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  StartWatching({"keys.json"});
  ASSERT_EQ(chdir(cwd), 0);  // resolved at Start: later chdir does not matter
  free(cwd);
  WriteInPlace(Path("keys.json"), "v2");
  ASSERT_TRUE(recorder_.WaitForCalls(1));
  EXPECT_THAT(recorder_.calls()[0], ElementsAre("keys.json"));
}

}  // namespace
}  // namespace sasmint
