#include "service/keystore/key_store.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sasmint {
namespace {

std::string IdentityKey(absl::string_view hub, absl::string_view device_id,
                        absl::string_view module_id) {
  if (module_id.empty()) return absl::StrCat(hub, "/devices/", device_id);
  return absl::StrCat(hub, "/devices/", device_id, "/modules/", module_id);
}

}  // namespace

absl::Status IdentityTable::Add(absl::string_view hub, absl::string_view device_id,
                                absl::string_view module_id, KeyEntry entry) {
  std::string key = IdentityKey(hub, device_id, module_id);
  auto [it, inserted] = entries_.try_emplace(std::move(key));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("duplicate identity ", it->first, " (first defined at ", it->second.source,
                     ")"));
  }
  it->second = std::move(entry);
  hubs_.insert(std::string(hub));
  return absl::OkStatus();
}

const KeyEntry* IdentityTable::Find(absl::string_view hub, absl::string_view device_id,
                                    absl::string_view module_id) const {
  auto it = entries_.find(IdentityKey(hub, device_id, module_id));
  return it == entries_.end() ? nullptr : &it->second;
}

std::shared_ptr<const IdentityTable> KeyStore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return table_;
}

void KeyStore::Publish(std::shared_ptr<const IdentityTable> table) {
  std::shared_ptr<const IdentityTable> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(table_, std::move(table));
  }
  // `old` is released outside the lock: destroying a large table (and wiping its keys) must not
  // stall readers.
}

}  // namespace sasmint
