// reloader.h: hot reload of the key store when its files change.
//
// KeyReloader watches the files the keys came from (the configuration file, device export files
// and key files) with a FileWatcher, which understands Kubernetes' atomic `..data` symlink swap
// of mounted Secrets as well as plain replacement. On a change it rebuilds the whole table with
// the builder it was given and hands it to the KeyAdmin, which publishes it as one new snapshot
// (re-applying or dropping the admin changes, carrying versions and retired keys forward);
// in-flight requests keep the snapshot they hold. A failed rebuild (a malformed file, a
// half-written key) logs the error and keeps the previous keys serving. Each reload logs and
// counts identities added, changed and removed. The set of files watched is fixed at start.
// Thread-safe.
#ifndef SASMINT_SERVICE_ADMIN_RELOADER_H_
#define SASMINT_SERVICE_ADMIN_RELOADER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/admin/file_watcher.h"
#include "service/admin/key_admin.h"
#include "service/keystore/key_store.h"

namespace sasmint {

class KeyReloader {
 public:
  // Builder loads every key source from scratch and returns the new table, or the error that
  // should keep the current one.
  using Builder = std::function<absl::StatusOr<std::shared_ptr<IdentityTable>>()>;

  // Start watches `paths` and reloads through `admin` (which must outlive the reloader). Errors
  // are FileWatcher::Start's.
  static absl::StatusOr<std::unique_ptr<KeyReloader>> Start(std::vector<std::string> paths,
                                                            Builder build, KeyAdmin* admin,
                                                            FileWatcher::Options options = {});
  ~KeyReloader();

  // ReloadNow rebuilds and publishes at once (the watcher calls it; so may SIGHUP). Returns the
  // diff, or the builder's error (the previous table stays published).
  absl::StatusOr<TableDiff> ReloadNow(absl::string_view trigger) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t reloads() const { return reloads_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  KeyReloader(Builder build, KeyAdmin* admin) : build_(std::move(build)), admin_(admin) {}

  const Builder build_;
  KeyAdmin* const admin_;
  absl::Mutex mu_;  // one reload at a time
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> failures_{0};
  std::unique_ptr<FileWatcher> watcher_;  // last: stopped first on destruction
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_ADMIN_RELOADER_H_
