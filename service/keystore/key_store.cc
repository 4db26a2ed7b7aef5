#include "service/keystore/key_store.h"

#include <utility>

#include "absl/strings/match.h"
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
  hubs_.try_emplace(std::string(hub));
  return absl::OkStatus();
}

absl::Status IdentityTable::AddHub(absl::string_view hub, HubSettings settings) {
  auto it = hubs_.try_emplace(std::string(hub)).first;
  if (it->second.declared) {
    return absl::AlreadyExistsError(absl::StrCat("hub ", hub, " is configured twice"));
  }
  it->second.declared = true;
  it->second.settings = std::move(settings);
  return absl::OkStatus();
}

absl::Status IdentityTable::AddPolicy(absl::string_view hub, PolicyEntry policy) {
  auto it = hubs_.find(hub);
  if (it == hubs_.end()) return absl::NotFoundError(absl::StrCat("hub ", hub, " is not declared"));
  const std::string name = policy.name;
  if (!it->second.policies.try_emplace(name, std::move(policy)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("policy ", name, " of hub ", hub, " is defined twice"));
  }
  return absl::OkStatus();
}

absl::Status IdentityTable::AddDpsGroup(absl::string_view id_scope, DpsGroupEntry group) {
  std::vector<DpsGroupEntry>& groups = dps_[id_scope];
  for (const DpsGroupEntry& g : groups) {
    if (g.name == group.name) {
      return absl::AlreadyExistsError(
          absl::StrCat("enrollment group ", group.name, " of ID scope ", id_scope,
                       " is defined twice"));
    }
  }
  groups.push_back(std::move(group));
  return absl::OkStatus();
}

const HubSettings* IdentityTable::Settings(absl::string_view hub) const {
  auto it = hubs_.find(hub);
  return it == hubs_.end() ? nullptr : &it->second.settings;
}

const PolicyEntry* IdentityTable::FindPolicy(absl::string_view hub,
                                             absl::string_view name) const {
  auto it = hubs_.find(hub);
  if (it == hubs_.end()) return nullptr;
  auto p = it->second.policies.find(name);
  return p == it->second.policies.end() ? nullptr : &p->second;
}

const DpsGroupEntry* IdentityTable::FindDpsGroup(absl::string_view id_scope,
                                                 absl::string_view registration_id) const {
  auto it = dps_.find(id_scope);
  if (it == dps_.end()) return nullptr;
  const DpsGroupEntry* best = nullptr;
  for (const DpsGroupEntry& g : it->second) {
    if (absl::StartsWith(registration_id, g.registration_prefix) &&
        (best == nullptr || g.registration_prefix.size() > best->registration_prefix.size())) {
      best = &g;
    }
  }
  return best;
}

size_t IdentityTable::policy_count() const {
  size_t n = 0;
  for (const auto& [hub, data] : hubs_) n += data.policies.size();
  return n;
}

size_t IdentityTable::dps_group_count() const {
  size_t n = 0;
  for (const auto& [scope, groups] : dps_) n += groups.size();
  return n;
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
