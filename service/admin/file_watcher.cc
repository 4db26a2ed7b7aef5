#include "service/admin/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace sasmint {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SteadyTime = SteadyClock::time_point;

// Events on a watched directory that can change what one of its names resolves to. IN_MODIFY is
// left out on purpose: a writer's partial content is not worth reporting, IN_CLOSE_WRITE follows.
constexpr uint32_t kDirMask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// The name kubelet's AtomicWriter swaps atomically in Secret, ConfigMap and projected volumes.
constexpr absl::string_view kKubernetesDataLink = "..data";

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));  // GNU variant: may return a static string
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", ErrnoText(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case ENOSPC:  // fs.inotify.max_user_watches
    case EMFILE:  // fs.inotify.max_user_instances, or the process fd limit
    case ENFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

// Fingerprint identifies the content a path resolves to, as far as stat() can tell.
struct Fingerprint {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const Fingerprint&) const = default;
};

Fingerprint StatFingerprint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Fingerprint{};
  return Fingerprint{true,
                     st.st_dev,
                     st.st_ino,
                     st.st_size,
                     int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                     int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec};
}

// SplitPath splits an absolute path into its directory ("/" for top-level names) and last name.
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return {slash == 0 ? std::string("/") : path.substr(0, slash), path.substr(slash + 1)};
}

std::chrono::nanoseconds ToChrono(absl::Duration d) {
  return d <= absl::ZeroDuration() ? std::chrono::nanoseconds(0) : absl::ToChronoNanoseconds(d);
}

}  // namespace

class FileWatcher::Loop {
 public:
  Loop(Options options, Callback on_change)
      : options_(options),
        on_change_(std::move(on_change)),
        debounce_(ToChrono(options.debounce)),
        max_delay_(ToChrono(options.max_delay)),
        recheck_enabled_(options.recheck_interval > absl::ZeroDuration() &&
                         options.recheck_interval != absl::InfiniteDuration()),
        recheck_interval_(recheck_enabled_ ? ToChrono(options.recheck_interval)
                                           : std::chrono::nanoseconds(0)) {}

  ~Loop() {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      // The eventfd counter cannot overflow from one write; the result needs no check.
      (void)!write(wake_fd_, &one, sizeof(one));
      thread_.join();
    }
    if (inotify_fd_ >= 0) close(inotify_fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Init(std::vector<std::string> paths) {
    absl::flat_hash_set<std::string> seen;
    std::string cwd;
    for (std::string& given : paths) {
      if (given.empty()) return absl::InvalidArgumentError("empty path to watch");
      if (!seen.insert(given).second) continue;
      File f;
      f.abs = given;
      if (f.abs[0] != '/') {
        if (cwd.empty()) {
          char* dir = getcwd(nullptr, 0);
          if (dir == nullptr) return ErrnoStatus(errno, "getcwd");
          cwd = dir;
          std::free(dir);
        }
        f.abs = absl::StrCat(cwd, cwd.back() == '/' ? "" : "/", f.abs);
      }
      std::tie(f.dir, f.name) = SplitPath(f.abs);
      if (f.name.empty() || f.name == "." || f.name == "..") {
        return absl::InvalidArgumentError(absl::StrCat("watched path ", given, " names no file"));
      }
      struct stat st;
      if (stat(f.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return absl::NotFoundError(
            absl::StrCat("directory ", f.dir, " of watched path ", given, " does not exist"));
      }
      if (stat(f.abs.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return absl::InvalidArgumentError(
            absl::StrCat("watched path ", given, " is a directory; name the files in it"));
      }
      f.given = std::move(given);
      files_.push_back(std::move(f));
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return ErrnoStatus(errno, "eventfd");
    if (options_.use_inotify) {
      inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (inotify_fd_ < 0) return ErrnoStatus(errno, "inotify_init1");
      RETURN_IF_ERROR(Rewatch(/*strict=*/true));
    }
    // Fingerprints after the watches exist: a change in between is seen by one or the other.
    for (File& f : files_) f.last = StatFingerprint(f.abs);
    next_recheck_ = SteadyClock::now() + recheck_interval_;
    return absl::OkStatus();
  }

  void StartThread() {
    thread_ = std::thread([this] { Run(); });
  }

  Stats stats() const {
    Stats s;
    s.inotify_events = inotify_events_.load(std::memory_order_relaxed);
    s.overflows = overflows_.load(std::memory_order_relaxed);
    s.recheck_detections = recheck_detections_.load(std::memory_order_relaxed);
    s.reports = reports_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct File {
    std::string given;  // as passed to Start: what reports name
    std::string abs;    // absolute (not canonical: symlinks are kept, they are what we watch)
    std::string dir;
    std::string name;
    Fingerprint last;  // at Start or at the last report of this file
    bool pending = false;
  };
  struct Match {
    size_t file;
    std::string name;  // an entry name in the watched directory that concerns `file`
  };

  // Rewatch resolves every file again and makes the inotify watch set match: the directory of
  // each path as given (plus `..data` there if the path is a symlink) and the directory of the
  // path's resolved target. With `strict`, failing to watch a given directory is an error.
  absl::Status Rewatch(bool strict) {
    absl::flat_hash_map<int, std::vector<Match>> next;
    absl::flat_hash_map<std::string, int> wd_of_dir;  // -1: could not watch
    absl::Status status;
    auto add = [&](const std::string& dir, size_t file, std::string name, bool required) {
      auto [it, inserted] = wd_of_dir.try_emplace(dir, -1);
      if (inserted) {
        it->second = inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask);
        if (it->second < 0 && required && status.ok()) {
          status = ErrnoStatus(errno, absl::StrCat("inotify_add_watch ", dir));
        }
      }
      if (it->second >= 0) next[it->second].push_back(Match{file, std::move(name)});
    };
    for (size_t i = 0; i < files_.size(); ++i) {
      const File& f = files_[i];
      add(f.dir, i, f.name, true);
      struct stat lst;
      if (lstat(f.abs.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        add(f.dir, i, std::string(kKubernetesDataLink), true);
      }
      if (char* real = realpath(f.abs.c_str(), nullptr); real != nullptr) {
        auto [real_dir, real_name] = SplitPath(real);
        std::free(real);
        if (real_dir != f.dir || real_name != f.name) add(real_dir, i, std::move(real_name), false);
      }
    }
    for (const auto& [wd, matches] : watches_) {
      if (!next.contains(wd)) inotify_rm_watch(inotify_fd_, wd);  // EINVAL if already gone
    }
    watches_ = std::move(next);
    return strict ? status : absl::OkStatus();
  }

  void MarkPending(size_t file, SteadyTime now) {
    files_[file].pending = true;
    if (!any_pending_) {
      any_pending_ = true;
      first_pending_ = now;
    }
    last_event_ = now;
  }

  void MarkAllPending(SteadyTime now) {
    for (size_t i = 0; i < files_.size(); ++i) MarkPending(i, now);
  }

  void ReadEvents(SteadyTime now) {
    alignas(struct inotify_event) char buf[64 * 1024];
    bool rewatch = false;
    for (;;) {
      const ssize_t len = read(inotify_fd_, buf, sizeof(buf));
      if (len < 0 && errno == EINTR) continue;
      if (len <= 0) break;  // EAGAIN: drained
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
        off += sizeof(struct inotify_event) + ev->len;
        inotify_events_.fetch_add(1, std::memory_order_relaxed);
        if (ev->mask & IN_Q_OVERFLOW) {
          overflows_.fetch_add(1, std::memory_order_relaxed);
          MarkAllPending(now);
          rewatch = true;
          continue;
        }
        auto it = watches_.find(ev->wd);
        if (it == watches_.end()) continue;
        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
          // The directory itself went away or moved: its names now resolve elsewhere or nowhere.
          for (const Match& m : it->second) MarkPending(m.file, now);
          rewatch = true;
          continue;
        }
        if (ev->len == 0) continue;
        const absl::string_view name(ev->name);  // NUL-terminated, then padded
        for (const Match& m : it->second) {
          if (m.name == name) {
            MarkPending(m.file, now);
            rewatch = true;
          }
        }
      }
    }
    if (rewatch) Rewatch(/*strict=*/false).IgnoreError();
  }

  void Recheck(SteadyTime now) {
    // Directories that were missing may be back; symlink targets may have moved unseen.
    if (inotify_fd_ >= 0) Rewatch(/*strict=*/false).IgnoreError();
    for (size_t i = 0; i < files_.size(); ++i) {
      if (files_[i].pending || StatFingerprint(files_[i].abs) == files_[i].last) continue;
      recheck_detections_.fetch_add(1, std::memory_order_relaxed);
      MarkPending(i, now);
    }
  }

  void Report() {
    std::vector<std::string> changed;
    for (File& f : files_) {
      if (!f.pending) continue;
      f.pending = false;
      f.last = StatFingerprint(f.abs);
      changed.push_back(f.given);
    }
    any_pending_ = false;
    reports_.fetch_add(1, std::memory_order_relaxed);
    on_change_(changed);
  }

  void Run() {
    struct pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const nfds_t nfds = inotify_fd_ >= 0 ? 2 : 1;
    for (;;) {
      std::optional<SteadyTime> deadline;
      if (any_pending_) deadline = std::min(last_event_ + debounce_, first_pending_ + max_delay_);
      if (recheck_enabled_) deadline = std::min(deadline.value_or(next_recheck_), next_recheck_);
      int timeout_ms = -1;
      if (deadline.has_value()) {
        const auto wait =
            std::chrono::ceil<std::chrono::milliseconds>(*deadline - SteadyClock::now());
        timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, INT_MAX));
      }
      const int ready = poll(fds, nfds, timeout_ms);
      if (ready < 0 && errno != EINTR) {
        // Only EFAULT/EINVAL/ENOMEM are possible: back off instead of spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (ready > 0 && (fds[0].revents & POLLIN)) return;
      const SteadyTime now = SteadyClock::now();
      if (ready > 0 && nfds == 2 && (fds[1].revents & POLLIN)) ReadEvents(now);
      if (recheck_enabled_ && now >= next_recheck_) {
        Recheck(now);
        next_recheck_ = now + recheck_interval_;
      }
      if (any_pending_ && (now >= last_event_ + debounce_ || now >= first_pending_ + max_delay_)) {
        Report();
      }
    }
  }

  const Options options_;
  const Callback on_change_;
  const std::chrono::nanoseconds debounce_;
  const std::chrono::nanoseconds max_delay_;
  const bool recheck_enabled_;
  const std::chrono::nanoseconds recheck_interval_;

  // Set by Init, then owned by the watcher thread alone.
  std::vector<File> files_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  absl::flat_hash_map<int, std::vector<Match>> watches_;  // inotify wd -> names that matter
  bool any_pending_ = false;
  SteadyTime first_pending_;
  SteadyTime last_event_;
  SteadyTime next_recheck_;

  std::atomic<uint64_t> inotify_events_{0};
  std::atomic<uint64_t> overflows_{0};
  std::atomic<uint64_t> recheck_detections_{0};
  std::atomic<uint64_t> reports_{0};
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<FileWatcher>> FileWatcher::Start(std::vector<std::string> paths,
                                                                Options options,
                                                                Callback on_change) {
  auto loop = std::make_unique<Loop>(options, std::move(on_change));
  RETURN_IF_ERROR(loop->Init(std::move(paths)));
  loop->StartThread();
  return std::unique_ptr<FileWatcher>(new FileWatcher(std::move(loop)));
}

FileWatcher::FileWatcher(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

FileWatcher::~FileWatcher() = default;

FileWatcher::Stats FileWatcher::stats() const { return loop_->stats(); }

}  // namespace sasmint
