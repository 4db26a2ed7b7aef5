#include "service/keystore/key_store.h"

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/keystore/internal/identity_index.h"

namespace sasmint {
namespace {

// EmptyKey is the zero-length key, computed once (HmacKey's default constructor hashes).
const HmacKey& EmptyKey() {
  static const HmacKey* const kKey = new HmacKey();
  return *kKey;
}

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t StableHash(absl::string_view text) {
  // Eight bytes at a time through the splitmix64 finalizer: cheap, well mixed, and defined as
  // little-endian words, so it never changes with the build (and is the same on x86-64 and
  // arm64, the targets; a big-endian port must byte-swap the loads).
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "StableHash assumes little-endian");
  uint64_t h = 0x9e3779b97f4a7c15ull ^ text.size();
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    h = Mix(h ^ w);
  }
  uint64_t tail = 0;
  if (i < text.size()) std::memcpy(&tail, text.data() + i, text.size() - i);
  return Mix(h ^ tail ^ 0xff);
}

IdentityTable::IdentityTable() : identities_(std::make_unique<internal::IdentityIndex>()) {}
IdentityTable::~IdentityTable() = default;

uint16_t IdentityTable::AddSourceFile(absl::string_view name) {
  for (size_t i = 0; i < source_files_.size(); ++i) {
    if (source_files_[i] == name) return static_cast<uint16_t>(i);
  }
  source_files_.emplace_back(name);
  return static_cast<uint16_t>(source_files_.size() - 1);
}

int IdentityTable::HubIndex(absl::string_view hub) const {
  for (size_t i = 0; i < hub_names_.size(); ++i) {
    if (hub_names_[i] == hub) return static_cast<int>(i);
  }
  return -1;
}

absl::Status IdentityTable::Add(absl::string_view hub, absl::string_view device_id,
                                absl::string_view module_id, const IdentityKeys& keys) {
  int hub_index = HubIndex(hub);
  if (hub_index < 0) {
    if (hub_names_.size() >= 255) {
      return absl::ResourceExhaustedError("a table serves at most 255 hubs");
    }
    hub_names_.emplace_back(hub);
    hub_index = static_cast<int>(hub_names_.size() - 1);
    hubs_.try_emplace(std::string(hub));
  }
  // Absent keys still occupy their slot (records are fixed-size); they are copies of a real
  // key, never read, because the slot's flag says absent.
  const HmacKey& any = keys.primary ? *keys.primary : keys.secondary ? *keys.secondary : EmptyKey();
  internal::Record record(keys.primary ? *keys.primary : any,
                          keys.secondary ? *keys.secondary : any);
  record.hash = internal::IdentityHash(hub, device_id, module_id);
  record.hub = static_cast<uint8_t>(hub_index);
  record.flags = (keys.status == IdentityStatus::kDisabled ? internal::Record::kDisabled : 0) |
                 (keys.primary ? internal::Record::kHasPrimary : 0) |
                 (keys.secondary ? internal::Record::kHasSecondary : 0);
  const bool extra = keys.auth_type != "sas" || !keys.primary_thumbprint.empty() ||
                     !keys.secondary_thumbprint.empty();
  if (extra) record.flags |= internal::Record::kHasExtra;
  record.version = keys.version;
  record.source_file = keys.source_file;
  record.source_line = keys.source_line;
  uint32_t id = 0;
  if (!identities_->Insert(record, device_id, module_id, &id)) {
    const IdentityRef earlier = Find(hub, device_id, module_id);
    return absl::AlreadyExistsError(
        absl::StrCat("duplicate identity ", hub, "/devices/", device_id,
                     module_id.empty() ? "" : absl::StrCat("/modules/", module_id),
                     " (first defined at ", earlier.source(), ")"));
  }
  if (extra) {
    extras_[id] = Extra{keys.auth_type, keys.primary_thumbprint, keys.secondary_thumbprint};
  }
  return absl::OkStatus();
}

void IdentityTable::Compact() { identities_->Compact(); }
void IdentityTable::ReserveIdentities(size_t n) { identities_->Reserve(n); }

IdentityRef IdentityTable::Find(absl::string_view hub, absl::string_view device_id,
                                absl::string_view module_id) const {
  return Find(hub, device_id, module_id, IdentityHash(hub, device_id, module_id));
}

IdentityRef IdentityTable::Find(absl::string_view hub, absl::string_view device_id,
                                absl::string_view module_id, uint64_t hash) const {
  const int hub_index = HubIndex(hub);
  if (hub_index < 0) return IdentityRef();
  const int64_t id = identities_->Find(hash, static_cast<uint8_t>(hub_index), device_id, module_id);
  return id < 0 ? IdentityRef() : IdentityRef(this, static_cast<uint32_t>(id));
}

uint64_t IdentityTable::IdentityHash(absl::string_view hub, absl::string_view device_id,
                                     absl::string_view module_id) {
  return internal::IdentityHash(hub, device_id, module_id);
}

void IdentityTable::PrefetchIdentity(uint64_t hash) const { identities_->Prefetch(hash); }

absl::Span<const RetiredKey> IdentityTable::RetiredKeys(const IdentityRef& identity) const {
  // Rotation history is not recorded yet (issue 5): no identity has retired keys.
  (void)identity;
  return {};
}

size_t IdentityTable::size() const { return identities_->size(); }
size_t IdentityTable::IdentityMemoryBytes() const { return identities_->MemoryBytes(); }

void IdentityTable::ForEachIdentity(const std::function<void(const IdentityRef&)>& fn) const {
  identities_->ForEach([&](uint32_t id) { fn(IdentityRef(this, id)); });
}

IdentityStatus IdentityRef::status() const {
  return table_->identities_->record(id_).flags & internal::Record::kDisabled
             ? IdentityStatus::kDisabled
             : IdentityStatus::kEnabled;
}

const HmacKey* IdentityRef::key(KeySlot slot) const {
  const internal::Record& r = table_->identities_->record(id_);
  if (slot == KeySlot::kSecondary) {
    return r.flags & internal::Record::kHasSecondary ? &r.keys[1] : nullptr;
  }
  return r.flags & internal::Record::kHasPrimary ? &r.keys[0] : nullptr;
}

bool IdentityRef::has_keys() const {
  return table_->identities_->record(id_).flags &
         (internal::Record::kHasPrimary | internal::Record::kHasSecondary);
}

absl::string_view IdentityRef::device_id() const { return table_->identities_->device_id(id_); }
absl::string_view IdentityRef::module_id() const { return table_->identities_->module_id(id_); }
absl::string_view IdentityRef::hub() const {
  return table_->hub_names_[table_->identities_->record(id_).hub];
}
uint64_t IdentityRef::hash() const { return table_->identities_->record(id_).hash; }
uint32_t IdentityRef::version() const { return table_->identities_->record(id_).version; }

absl::string_view IdentityRef::auth_type() const {
  auto it = table_->extras_.find(id_);
  return it == table_->extras_.end() ? absl::string_view("sas") : it->second.auth_type;
}
absl::string_view IdentityRef::primary_thumbprint() const {
  auto it = table_->extras_.find(id_);
  return it == table_->extras_.end() ? absl::string_view() : it->second.primary_thumbprint;
}
absl::string_view IdentityRef::secondary_thumbprint() const {
  auto it = table_->extras_.find(id_);
  return it == table_->extras_.end() ? absl::string_view() : it->second.secondary_thumbprint;
}

std::string IdentityRef::source() const {
  const internal::Record& r = table_->identities_->record(id_);
  const std::string& file =
      r.source_file < table_->source_files_.size() ? table_->source_files_[r.source_file] : "?";
  return absl::StrCat(file, ":", r.source_line);
}

absl::Status IdentityTable::AddHub(absl::string_view hub, HubSettings settings) {
  auto it = hubs_.try_emplace(std::string(hub)).first;
  if (HubIndex(hub) < 0) hub_names_.emplace_back(hub);
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
      return absl::AlreadyExistsError(absl::StrCat("enrollment group ", group.name, " of ID scope ",
                                                   id_scope, " is defined twice"));
    }
  }
  groups.push_back(std::move(group));
  return absl::OkStatus();
}

const HubSettings* IdentityTable::Settings(absl::string_view hub) const {
  auto it = hubs_.find(hub);
  return it == hubs_.end() ? nullptr : &it->second.settings;
}

const PolicyEntry* IdentityTable::FindPolicy(absl::string_view hub, absl::string_view name) const {
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

namespace {

bool SameKey(const HmacKey* a, const HmacKey* b) {
  if (a == nullptr || b == nullptr) return a == b;
  const SecretKeyAccess access = SecretKeyAccess::Get();
  return a->inner_state(access) == b->inner_state(access) &&
         a->outer_state(access) == b->outer_state(access);
}

}  // namespace

TableDiff DiffTables(const IdentityTable& previous, const IdentityTable& next) {
  TableDiff diff;
  size_t kept = 0;
  next.ForEachIdentity([&](const IdentityRef& n) {
    const IdentityRef p = previous.Find(n.hub(), n.device_id(), n.module_id(), n.hash());
    if (!p) {
      ++diff.added;
      return;
    }
    ++kept;
    if (p.status() != n.status() || !SameKey(p.key(KeySlot::kPrimary), n.key(KeySlot::kPrimary)) ||
        !SameKey(p.key(KeySlot::kSecondary), n.key(KeySlot::kSecondary))) {
      ++diff.changed;
    }
  });
  diff.removed = previous.size() - kept;
  return diff;
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
