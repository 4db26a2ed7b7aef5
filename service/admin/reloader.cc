#include "service/admin/reloader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace sasmint {

absl::StatusOr<std::unique_ptr<KeyReloader>> KeyReloader::Start(std::vector<std::string> paths,
                                                                Builder build, KeyAdmin* admin,
                                                                FileWatcher::Options options) {
  std::unique_ptr<KeyReloader> reloader(new KeyReloader(std::move(build), admin));
  KeyReloader* self = reloader.get();
  auto watcher = FileWatcher::Start(std::move(paths), options,
                                    [self](const std::vector<std::string>& changed) {
                                      self->ReloadNow(absl::StrJoin(changed, ",")).IgnoreError();
                                    });
  if (!watcher.ok()) return watcher.status();
  reloader->watcher_ = *std::move(watcher);
  return reloader;
}

KeyReloader::~KeyReloader() { watcher_.reset(); }

absl::StatusOr<TableDiff> KeyReloader::ReloadNow(absl::string_view trigger) {
  absl::MutexLock lock(&mu_);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<IdentityTable>> next = build_();
  if (!next.ok()) {
    ++failures_;
    Log(LogLevel::kError, "key reload failed; the previous keys keep serving",
        {{"trigger", trigger}, {"error", next.status().message()}});
    return next.status();
  }
  const size_t identities = (*next)->size();
  const TableDiff diff = admin_->PublishFileTable(*std::move(next));
  ++reloads_;
  Log(LogLevel::kInfo, "keys reloaded",
      {{"trigger", trigger},
       {"identities", absl::StrCat(identities)},
       {"admin_changes", absl::StrCat(admin_->admin_changes())},
       {"added", absl::StrCat(diff.added)},
       {"changed", absl::StrCat(diff.changed)},
       {"removed", absl::StrCat(diff.removed)},
       {"ms", absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - start))}});
  return diff;
}

}  // namespace sasmint
