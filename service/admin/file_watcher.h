// file_watcher.h: FileWatcher tells the key store when its key, export or config files change.
//
// A FileWatcher owns one thread that waits on inotify and calls `on_change` with the watched paths
// that may have changed, once changes have been quiet for `debounce`. It watches DIRECTORIES, not
// inodes (editors and kubelet replace files, so the inode a file had at start goes stale), and
// matches entry names there. That covers:
//   - in-place writes (IN_CLOSE_WRITE) and attribute changes such as `touch` (IN_ATTRIB);
//   - replacement by rename (write a temp file, rename it over the name: IN_MOVED_TO), creation
//     of a file that did not exist yet (IN_CREATE), deletion (IN_DELETE, IN_MOVED_FROM);
//   - Kubernetes Secret/ConfigMap volumes: each visible file is a symlink `key -> ..data/key` and
//     `..data -> ..<timestamp>` is swapped by renaming `..data_tmp` over it (IN_MOVED_TO of
//     `..data`): a `..data` event marks every watched symlink in that directory changed;
//   - symlinks elsewhere: the directory of each file's resolved target is watched too, and the
//     watch set is re-resolved after every relevant event (old timestamped dirs disappear).
// Changes inotify cannot see (a symlinked parent directory swapped, network filesystems, a lost
// event) are caught by a periodic re-check of (device, inode, size, mtime, ctime) of each file's
// resolved target; an inotify queue overflow counts as a change of every file.
//
// A report means "re-read this file": it may be spurious (a write of identical bytes, a swap that
// left this key as it was) and a file may have been deleted (the reader then sees NOT_FOUND and
// keeps what it has). Consecutive events arriving within `debounce` of each other are reported
// once, at most `max_delay` after the first. Paths are reported as they were given to Start, in
// that order, without duplicates.
//
// Thread-safety: thread-safe. `on_change` runs on the watcher's own thread, one call at a time;
// it may block (events queue in the kernel meanwhile) but must not destroy the FileWatcher.
#ifndef SASMINT_SERVICE_ADMIN_FILE_WATCHER_H_
#define SASMINT_SERVICE_ADMIN_FILE_WATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sasmint {

class FileWatcher {
 public:
  struct Options {
    absl::Duration debounce = absl::Milliseconds(200);  // quiet period before a report
    absl::Duration max_delay = absl::Seconds(1);        // bound on the delay under constant churn
    // recheck_interval is the period of the stat()-based re-check; zero or infinite disables it.
    absl::Duration recheck_interval = absl::Seconds(60);
    // use_inotify false relies on the re-check alone (filesystems without inotify; tests).
    bool use_inotify = true;
  };

  struct Stats {
    uint64_t inotify_events = 0;      // events read, relevant or not
    uint64_t overflows = 0;           // IN_Q_OVERFLOW seen (every file reported changed)
    uint64_t recheck_detections = 0;  // files whose change only the periodic re-check saw
    uint64_t reports = 0;             // calls to on_change
  };

  using Callback = std::function<void(const std::vector<std::string>& changed)>;

  // Start begins watching `paths` (files; relative paths are resolved against the current
  // directory now) and calling `on_change`. A file need not exist yet, but its directory must:
  // NOT_FOUND if a directory is missing, INVALID_ARGUMENT for an empty path or one naming a
  // directory, RESOURCE_EXHAUSTED if inotify instances or watches are exhausted, INTERNAL for other
  // system call failures. An empty `paths` is allowed (nothing is ever reported).
  static absl::StatusOr<std::unique_ptr<FileWatcher>> Start(std::vector<std::string> paths,
                                                            Options options, Callback on_change);

  // ~FileWatcher stops the thread promptly, dropping pending (debounced) changes. If on_change is
  // running it waits for that call to return.
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // stats returns counters since Start.
  Stats stats() const;

 private:
  class Loop;
  explicit FileWatcher(std::unique_ptr<Loop> loop);
  std::unique_ptr<Loop> loop_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_ADMIN_FILE_WATCHER_H_
