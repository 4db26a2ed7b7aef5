#include "service/keystore/key_store.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/keystore/internal/hash_mixing.h"
#include "service/keystore/internal/identity_index.h"
#include "service/keystore/retired_keys.h"

namespace sasmint {
namespace {

// EmptyKey is the zero-length key, computed once (HmacKey's default constructor hashes).
const HmacKey& EmptyKey() {
  static const HmacKey* const kKey = new HmacKey();
  return *kKey;
}

using internal::Mix;
using internal::Mum;

uint64_t Load64(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

uint64_t Load32(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

}  // namespace

absl::string_view KeySlotName(KeySlot slot) {
  switch (slot) {
    case KeySlot::kPrimary:
      return "primary";
    case KeySlot::kSecondary:
      return "secondary";
    case KeySlot::kActive:
      break;
  }
  return "active";
}

uint64_t StableHash(absl::string_view text) {
  // Sixteen bytes per 64x64->128-bit multiply (the wyhash construction), then the splitmix64
  // finalizer so that every output bit (position, renew-after jitter) depends on every input bit.
  // Words are little-endian loads, so the value never changes with the build and is the same on
  // x86-64 and arm64 (a big-endian port must byte-swap the loads). A lookup hashes the hub and
  // the device ID (IdentityHash): a third of the cost of a word-at-a-time splitmix chain.
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "StableHash assumes little-endian");
  constexpr uint64_t kSeed0 = 0xa0761d6478bd642full;
  constexpr uint64_t kSeed1 = 0xe7037ed1a0b428dbull;
  const char* p = text.data();
  size_t n = text.size();
  uint64_t h = kSeed0 ^ Mum(n ^ kSeed1, kSeed0);
  for (; n > 16; n -= 16, p += 16) h = Mum(Load64(p) ^ kSeed1, Load64(p + 8) ^ h);
  // The last 1 to 16 bytes (none for empty text) as two words, zero-padded. Read with loads
  // that stay inside the text (overlapping where short: overlapping bytes land on the same
  // positions), not memcpy of a variable size, which is a library call on every lookup.
  uint64_t a = 0, b = 0;
  if (n > 8) {
    a = Load64(p);
    b = Load64(p + n - 8) >> (8 * (16 - n));
  } else if (n >= 4) {
    a = Load32(p) | Load32(p + n - 4) << (8 * (n - 4));
  } else if (n > 0) {
    const auto byte = [p](size_t i) { return uint64_t{static_cast<uint8_t>(p[i])}; };
    a = byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1));
  }
  return Mix(Mum(a ^ kSeed1, b ^ h) ^ text.size());
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
                                absl::string_view module_id, const IdentityKeys& keys,
                                std::optional<uint64_t> hash) {
  int hub_index = HubIndex(hub);
  if (hub_index < 0 && base_ != nullptr) {
    return absl::NotFoundError(absl::StrCat("hub ", hub, " is not served"));
  }
  if (hub_index < 0) {
    if (hub_names_.size() >= 255) {
      return absl::ResourceExhaustedError("a table serves at most 255 hubs");
    }
    hub_names_.emplace_back(hub);
    hub_index = static_cast<int>(hub_names_.size() - 1);
    hubs_.try_emplace(std::string(hub));
  }
  internal::Record record;
  record.primary = keys.primary ? &*keys.primary : nullptr;
  record.secondary = keys.secondary ? &*keys.secondary : nullptr;
  if (!keys.primary && !keys.secondary) record.primary = &EmptyKey();  // flags say absent
  record.hash = hash ? *hash : internal::IdentityHash(hub, device_id, module_id);
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
                     " (first defined at ", earlier ? earlier.source() : "a tombstone", ")"));
  }
  if (extra) {
    extras_[id] = Extra{keys.auth_type, keys.primary_thumbprint, keys.secondary_thumbprint};
  }
  if (base_ != nullptr) {
    ++overlay_live_;
    if (base_->Find(hub, device_id, module_id, record.hash)) ++overlay_shadowed_;
  }
  return absl::OkStatus();
}

std::shared_ptr<IdentityTable> IdentityTable::LayerOver(std::shared_ptr<const IdentityTable> base) {
  if (base == nullptr || base->base_ != nullptr) {
    // One level only: Find's cost must stay bounded. A broken invariant, not bad input.
    std::abort();
  }
  auto table = std::make_shared<IdentityTable>();
  table->hub_names_ = base->hub_names_;  // same indexes: one HubIndex serves both layers
  table->source_files_ = {"admin"};
  table->meta_ = base.get();
  table->retired_ = base->retired_;
  table->base_ = std::move(base);
  return table;
}

absl::Status IdentityTable::Hide(absl::string_view hub, absl::string_view device_id,
                                 absl::string_view module_id) {
  if (base_ == nullptr) return absl::FailedPreconditionError("only an overlay hides identities");
  const int hub_index = HubIndex(hub);
  if (hub_index < 0) return absl::NotFoundError(absl::StrCat("hub ", hub, " is not served"));
  internal::Record record;
  record.primary = &EmptyKey();  // a tombstone has no keys (no kHas* flag)
  record.hash = internal::IdentityHash(hub, device_id, module_id);
  record.hub = static_cast<uint8_t>(hub_index);
  record.flags = internal::Record::kHidden;
  uint32_t id = 0;
  if (!identities_->Insert(record, device_id, module_id, &id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("identity ", device_id, " is already in the overlay"));
  }
  if (base_->Find(hub, device_id, module_id, record.hash)) ++overlay_shadowed_;
  return absl::OkStatus();
}

void IdentityTable::ForEachOwnEntry(
    const std::function<void(const IdentityRef&, bool hidden)>& fn) const {
  identities_->ForEach([&](uint32_t id) {
    const IdentityRef ref = RefOf(this, id);
    fn(ref, (identities_->flags(id, ref.position_) & internal::Record::kHidden) != 0);
  });
}

bool IdentityTable::Shadows(absl::string_view hub, absl::string_view device_id,
                            absl::string_view module_id, uint64_t hash) const {
  const int hub_index = HubIndex(hub);
  return hub_index >= 0 &&
         identities_->Find(hash, static_cast<uint8_t>(hub_index), device_id, module_id) >= 0;
}

size_t IdentityTable::own_entries() const { return identities_->size(); }

void IdentityTable::SetVersion(const IdentityRef& identity, uint32_t version) {
  if (identity.table_ != this) std::abort();  // a ref into another table: a caller's bug
  identities_->set_version(identity.id_, version);
}

void IdentityTable::SetRetiredKeys(std::shared_ptr<const RetiredKeyIndex> retired) {
  retired_ = std::move(retired);
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
  const int64_t position =
      identities_->Find(hash, static_cast<uint8_t>(hub_index), device_id, module_id);
  if (ABSL_PREDICT_FALSE(base_ != nullptr)) {
    return FindLayered(position, static_cast<uint8_t>(hub_index), device_id, module_id, hash);
  }
  return position < 0 ? IdentityRef() : RefAt(this, static_cast<uint32_t>(position));
}

IdentityRef IdentityTable::FindLayered(int64_t position, uint8_t hub_index,
                                       absl::string_view device_id, absl::string_view module_id,
                                       uint64_t hash) const {
  if (position >= 0) {
    const IdentityRef own = RefAt(this, static_cast<uint32_t>(position));
    if (identities_->flags(own.id_, own.position_) & internal::Record::kHidden)
      return IdentityRef();
    return own;
  }
  // hub_names_ is a copy of the base's: the same hub index.
  const int64_t base_position = base_->identities_->Find(hash, hub_index, device_id, module_id);
  return base_position < 0 ? IdentityRef()
                           : RefAt(base_.get(), static_cast<uint32_t>(base_position));
}

uint64_t IdentityTable::IdentityHash(absl::string_view hub, absl::string_view device_id,
                                     absl::string_view module_id) {
  return internal::IdentityHash(hub, device_id, module_id);
}

IdentityRef IdentityTable::RefAt(const IdentityTable* table, uint32_t position) {
  return IdentityRef(table, table->identities_->id_at(position), position);
}

IdentityRef IdentityTable::RefOf(const IdentityTable* table, uint32_t id) {
  return IdentityRef(table, id, table->identities_->position_of(id));
}

void IdentityTable::PrefetchKeys(const IdentityRef& identity) {
  if (identity) identity.table_->identities_->PrefetchKeys(identity.id_);
}

void IdentityTable::PrefetchIdentity(uint64_t hash) const {
  if (ABSL_PREDICT_FALSE(base_ != nullptr)) base_->identities_->Prefetch(hash);
  identities_->Prefetch(hash);
}

absl::Span<const RetiredKey> IdentityTable::RetiredKeys(const IdentityRef& identity) const {
  if (retired_ == nullptr || !identity) return {};
  const RetiredKeyList* keys =
      retired_->Find(IdentityName(identity.hub(), identity.device_id(), identity.module_id()));
  if (keys == nullptr) return {};
  return absl::MakeConstSpan(keys->data(), keys->size());
}

size_t IdentityTable::size() const {
  if (base_ == nullptr) return identities_->size();
  return base_->size() - overlay_shadowed_ + overlay_live_;
}

size_t IdentityTable::IdentityMemoryBytes() const {
  return identities_->MemoryBytes() + (base_ != nullptr ? base_->IdentityMemoryBytes() : 0);
}

void IdentityTable::ForEachIdentity(const std::function<void(const IdentityRef&)>& fn) const {
  identities_->ForEach([&](uint32_t id) {
    const IdentityRef ref = RefOf(this, id);
    if (!(identities_->flags(id, ref.position_) & internal::Record::kHidden)) fn(ref);
  });
  if (base_ == nullptr) return;
  const internal::IdentityIndex& base = *base_->identities_;
  base.ForEach([&](uint32_t id) {
    const IdentityRef ref = RefOf(base_.get(), id);
    if (identities_->Find(ref.hash(), base.hub(id, ref.position_), ref.device_id(),
                          ref.module_id()) < 0) {
      fn(ref);
    }
  });
}

std::shared_ptr<const std::vector<uint32_t>> IdentityTable::SortedIds(uint8_t hub_index) const {
  absl::MutexLock lock(&sorted_mu_);
  auto& cached = sorted_[hub_index];
  if (cached != nullptr) return cached;
  auto ids = std::make_shared<std::vector<uint32_t>>();
  const internal::IdentityIndex& index = *identities_;
  index.ForEach([&](uint32_t id) {
    if (index.hub(id) == hub_index && !(index.flags(id) & internal::Record::kHidden)) {
      ids->push_back(id);
    }
  });
  std::sort(ids->begin(), ids->end(), [&index](uint32_t a, uint32_t b) {
    const absl::string_view da = index.device_id(a), db = index.device_id(b);
    if (da != db) return da < db;
    return index.module_id(a) < index.module_id(b);
  });
  ids->shrink_to_fit();
  cached = std::move(ids);
  return cached;
}

bool IdentityTable::ListIdentities(absl::string_view hub, absl::string_view after_device,
                                   absl::string_view after_module, size_t limit,
                                   const std::function<void(const IdentityRef&)>& fn) const {
  const int hub_index = HubIndex(hub);
  if (hub_index < 0) return false;
  const uint8_t h = static_cast<uint8_t>(hub_index);
  // A cursor over one layer's sorted identities, positioned after (after_device, after_module).
  struct Cursor {
    const IdentityTable* table = nullptr;
    std::shared_ptr<const std::vector<uint32_t>> ids;
    size_t pos = 0;
    bool done() const { return table == nullptr || pos >= ids->size(); }
    uint32_t id() const { return (*ids)[pos]; }
    absl::string_view device() const { return table->identities_->device_id(id()); }
    absl::string_view module() const { return table->identities_->module_id(id()); }
  };
  const auto open = [&](const IdentityTable* table) {
    Cursor c;
    if (table == nullptr) return c;
    c.table = table;
    c.ids = table->SortedIds(h);
    if (!after_device.empty()) {
      const internal::IdentityIndex& index = *table->identities_;
      c.pos = std::upper_bound(c.ids->begin(), c.ids->end(), 0u,
                               [&](uint32_t, uint32_t id) {
                                 const absl::string_view d = index.device_id(id);
                                 if (after_device != d) return after_device < d;
                                 return after_module < index.module_id(id);
                               }) -
              c.ids->begin();
    }
    return c;
  };
  Cursor own = open(this);
  Cursor below = open(base_.get());
  const auto skip_shadowed = [&] {
    while (!below.done()) {
      const uint64_t hash = below.table->identities_->hash(below.id());
      if (identities_->Find(hash, h, below.device(), below.module()) < 0) return;
      ++below.pos;
    }
  };
  size_t emitted = 0;
  for (;;) {
    skip_shadowed();
    if (own.done() && below.done()) return false;
    if (emitted == limit) return true;
    bool take_own = !own.done();
    if (take_own && !below.done()) {
      take_own = own.device() != below.device() ? own.device() < below.device()
                                                : own.module() < below.module();
    }
    Cursor& c = take_own ? own : below;
    fn(RefOf(c.table, c.id()));
    ++c.pos;
    ++emitted;
  }
}

IdentityStatus IdentityRef::status() const {
  return table_->identities_->flags(id_, position_) & internal::Record::kDisabled
             ? IdentityStatus::kDisabled
             : IdentityStatus::kEnabled;
}

const HmacKey* IdentityRef::key(KeySlot slot) const {
  const internal::IdentityIndex& index = *table_->identities_;
  const uint8_t flags = index.flags(id_, position_);
  if (slot == KeySlot::kSecondary) {
    return flags & internal::Record::kHasSecondary ? &index.key(id_, 1) : nullptr;
  }
  return flags & internal::Record::kHasPrimary ? &index.key(id_, 0) : nullptr;
}

bool IdentityRef::has_keys() const {
  return table_->identities_->flags(id_, position_) &
         (internal::Record::kHasPrimary | internal::Record::kHasSecondary);
}

absl::string_view IdentityRef::device_id() const {
  return table_->identities_->device_id(id_, position_);
}
absl::string_view IdentityRef::module_id() const {
  return table_->identities_->module_id(id_, position_);
}
absl::string_view IdentityRef::hub() const {
  return table_->hub_names_[table_->identities_->hub(id_, position_)];
}
uint64_t IdentityRef::hash() const { return table_->identities_->hash(id_, position_); }
uint32_t IdentityRef::version() const { return table_->identities_->version(id_); }

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
  const internal::IdentityIndex& index = *table_->identities_;
  const uint16_t source_file = index.source_file(id_);
  const uint32_t source_line = index.source_line(id_);
  const std::string& file =
      source_file < table_->source_files_.size() ? table_->source_files_[source_file] : "?";
  if (source_line == 0 && table_->base_ != nullptr) return file;  // "admin"
  return absl::StrCat(file, ":", source_line);
}

absl::Status IdentityTable::AddHub(absl::string_view hub, HubSettings settings) {
  if (base_ != nullptr) return absl::FailedPreconditionError("an overlay serves its base's hubs");
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
  if (base_ != nullptr) return absl::FailedPreconditionError("an overlay serves its base's hubs");
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
  if (base_ != nullptr) return absl::FailedPreconditionError("an overlay serves its base's groups");
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
  auto it = meta_->hubs_.find(hub);
  return it == meta_->hubs_.end() ? nullptr : &it->second.settings;
}

const PolicyEntry* IdentityTable::FindPolicy(absl::string_view hub, absl::string_view name) const {
  auto it = meta_->hubs_.find(hub);
  if (it == meta_->hubs_.end()) return nullptr;
  auto p = it->second.policies.find(name);
  return p == it->second.policies.end() ? nullptr : &p->second;
}

const DpsGroupEntry* IdentityTable::FindDpsGroup(absl::string_view id_scope,
                                                 absl::string_view registration_id) const {
  auto it = meta_->dps_.find(id_scope);
  if (it == meta_->dps_.end()) return nullptr;
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
  for (const auto& [hub, data] : meta_->hubs_) n += data.policies.size();
  return n;
}

size_t IdentityTable::dps_group_count() const {
  size_t n = 0;
  for (const auto& [scope, groups] : meta_->dps_) n += groups.size();
  return n;
}

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
  std::lock_guard<std::mutex> lock(mu_);
  return table_;
}

KeyStore::Pin::Pin(const KeyStore& store) {
  if (section_.entered()) {
    table_ = store.current_.load(std::memory_order_seq_cst);
  } else {
    fallback_ = store.Snapshot();
    table_ = fallback_.get();
  }
}

void KeyStore::Publish(std::shared_ptr<const IdentityTable> table) {
  std::lock_guard<std::mutex> publishing(publish_mu_);
  std::shared_ptr<const IdentityTable> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current_.store(table.get(), std::memory_order_seq_cst);
    old = std::exchange(table_, std::move(table));
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  // Pins may still read `old` through the raw pointer: wait for them before dropping it.
  internal::WaitForReaders();
  // `old` is released outside the lock: destroying a large table (and wiping its keys) must not
  // stall readers.
}

}  // namespace sasmint
