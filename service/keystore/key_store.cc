#include "service/keystore/key_store.h"

#include <cstring>
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

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t StableHash(absl::string_view text) {
  // Eight bytes at a time through the splitmix64 finalizer: cheap, well mixed, and defined
  // byte by byte (little-endian loads), so it never changes with the build.
  uint64_t h = 0x9e3779b97f4a7c15ull ^ text.size();
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w = 0;
    for (int b = 0; b < 8; ++b) w |= uint64_t{static_cast<uint8_t>(text[i + b])} << (8 * b);
    h = Mix(h ^ w);
  }
  uint64_t tail = 0;
  for (int b = 0; i < text.size(); ++i, ++b) {
    tail |= uint64_t{static_cast<uint8_t>(text[i])} << (8 * b);
  }
  return Mix(h ^ tail ^ 0xff);
}

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
  // The key is built on the stack: lookups are the hot path and must not allocate. Hub names
  // are at most 253 characters and IDs 128, so valid identities always fit; anything longer
  // cannot be in the table.
  char buffer[768];
  constexpr absl::string_view kDevices = "/devices/", kModules = "/modules/";
  const size_t size = hub.size() + kDevices.size() + device_id.size() +
                      (module_id.empty() ? 0 : kModules.size() + module_id.size());
  if (size > sizeof(buffer)) return nullptr;
  char* p = buffer;
  const auto put = [&p](absl::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(hub);
  put(kDevices);
  put(device_id);
  if (!module_id.empty()) {
    put(kModules);
    put(module_id);
  }
  auto it = entries_.find(absl::string_view(buffer, size));
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
