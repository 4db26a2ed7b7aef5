#include "service/admin/key_admin.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint {
namespace {

bool SameIdentity(const IdentityRef& a, IdentityStatus status, const HmacKey* primary,
                  const HmacKey* secondary) {
  return a.status() == status && SameKey(a.key(KeySlot::kPrimary), primary) &&
         SameKey(a.key(KeySlot::kSecondary), secondary);
}

// Rotated returns the retired keys of an identity whose keys change from `previous`'s to
// (primary, secondary): the keys it no longer holds in either slot, newest first, then those
// retired before (minus any it holds again), within the retention.
RetiredKeyList Rotated(const IdentityRef& previous, absl::Span<const RetiredKey> before,
                       const HmacKey* primary, const HmacKey* secondary, int64_t now,
                       const RetentionOptions& retention) {
  const auto kept = [&](const HmacKey* key, const RetiredKeyList& list) {
    if (SameKey(key, primary) || SameKey(key, secondary)) return true;
    for (const RetiredKey& r : list) {
      if (SameKey(&r.key.hmac, key)) return true;
    }
    return false;
  };
  RetiredKeyList list = NewRetiredKeyList();
  for (KeySlot slot : {KeySlot::kPrimary, KeySlot::kSecondary}) {
    const HmacKey* key = previous.key(slot);
    if (key == nullptr || kept(key, list)) continue;
    list.push_back(RetiredKey{StoredKey{*key, key->Fingerprint()}, slot, previous.version(), now});
  }
  for (const RetiredKey& r : before) {
    if (!kept(&r.key.hmac, list)) list.push_back(r);
  }
  ApplyRetention(list, retention, now);
  return list;
}

IdentityKeys KeysOf(const IdentityRef& ref) {
  IdentityKeys keys;
  keys.status = ref.status();
  if (const HmacKey* k = ref.key(KeySlot::kPrimary)) keys.primary.emplace(*k);
  if (const HmacKey* k = ref.key(KeySlot::kSecondary)) keys.secondary.emplace(*k);
  keys.version = ref.version();
  return keys;  // source_file 0, line 0: the overlay's "admin"
}

absl::Status ValidateIdentity(const AdminIdentity& id, absl::string_view path) {
  absl::Status s = ValidateHubHost(id.hub);
  if (s.ok()) s = ValidateIdentityId(id.device_id, "device_id");
  if (s.ok() && !id.module_id.empty()) s = ValidateIdentityId(id.module_id, "module_id");
  if (s.ok()) return s;
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
}

// Names lists identities for a log line: the first few, then how many more.
std::string Names(const std::vector<std::string>& names) {
  constexpr size_t kShown = 20;
  if (names.size() <= kShown) return absl::StrJoin(names, ",");
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + kShown, ","), ",... (",
                      names.size() - kShown, " more)");
}

constexpr char kTokenSeparator = '\n';  // never in a host name or an ID

std::string PageToken(absl::string_view hub, const AdminIdentity& last) {
  const std::string text = absl::StrCat(hub, std::string(1, kTokenSeparator), last.device_id,
                                        std::string(1, kTokenSeparator), last.module_id);
  return Base64Encode(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace

KeyAdmin::KeyAdmin(KeyStore* store, const Clock* clock, KeyAdminOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

KeyAdmin::~KeyAdmin() {
  {
    absl::MutexLock lock(&pruner_mu_);
    stop_pruning_ = true;
  }
  if (pruner_.joinable()) pruner_.join();
}

void KeyAdmin::StartPruning(absl::Duration every) {
  absl::MutexLock lock(&pruner_mu_);
  if (pruner_.joinable() || stop_pruning_) return;
  pruner_ = std::thread([this, every] {
    for (;;) {
      {
        absl::MutexLock wait(&pruner_mu_);
        if (pruner_mu_.AwaitWithTimeout(absl::Condition(&stop_pruning_), every)) return;
      }
      PruneRetired();
    }
  });
}

void KeyAdmin::Publish(std::shared_ptr<const IdentityTable> table) {
  current_ = table;
  store_->Publish(std::move(table));
}

std::shared_ptr<IdentityTable> KeyAdmin::NewOverlay(const absl::flat_hash_set<std::string>& skip,
                                                    size_t* dropped) const {
  std::shared_ptr<IdentityTable> overlay = IdentityTable::LayerOver(base_);
  *dropped = 0;
  if (current_ == nullptr || current_->base() == nullptr) return overlay;
  current_->ForEachOwnEntry([&](const IdentityRef& ref, bool hidden) {
    if (!skip.empty() && skip.contains(IdentityName(ref.hub(), ref.device_id(), ref.module_id()))) {
      return;
    }
    const absl::Status s =
        hidden ? overlay->Hide(ref.hub(), ref.device_id(), ref.module_id())
               : overlay->Add(ref.hub(), ref.device_id(), ref.module_id(), KeysOf(ref));
    if (!s.ok()) ++*dropped;  // the hub is no longer served
  });
  return overlay;
}

std::shared_ptr<RetiredKeyIndex> KeyAdmin::RetiredCopy() const {
  if (current_ == nullptr || current_->retired_keys() == nullptr) {
    return std::make_shared<RetiredKeyIndex>();
  }
  return std::make_shared<RetiredKeyIndex>(*current_->retired_keys());
}

absl::Status KeyAdmin::Start(std::shared_ptr<const IdentityTable> table) {
  absl::MutexLock lock(&mu_);
  if (current_ != nullptr) return absl::FailedPreconditionError("keys are already published");
  base_ = table;
  Publish(std::move(table));
  return absl::OkStatus();
}

TableDiff KeyAdmin::PublishFileTable(std::shared_ptr<IdentityTable> next) {
  absl::MutexLock lock(&mu_);
  if (current_ == nullptr) {
    const TableDiff diff{next->size(), 0, 0};
    base_ = next;
    Publish(std::move(next));
    return diff;
  }
  const int64_t now = absl::ToUnixSeconds(clock_->Now());
  const std::shared_ptr<const IdentityTable> previous = current_;
  const size_t changes = previous->base() != nullptr ? previous->own_entries() : 0;
  base_ = next;
  std::shared_ptr<IdentityTable> overlay;
  size_t dropped = 0;
  if (changes > 0 && options_.authoritative) {
    overlay = NewOverlay({}, &dropped);
  } else {
    dropped = changes;
  }

  // Versions and retired keys follow what was served: the previous table's view.
  std::shared_ptr<RetiredKeyIndex> retired = RetiredCopy();
  TableDiff diff;
  size_t kept = 0;
  const auto carry = [&](const IdentityRef& n, IdentityTable* owner) {
    const IdentityRef p = previous->Find(n.hub(), n.device_id(), n.module_id(), n.hash());
    if (!p) {
      ++diff.added;
      return;
    }
    ++kept;
    const HmacKey* primary = n.key(KeySlot::kPrimary);
    const HmacKey* secondary = n.key(KeySlot::kSecondary);
    if (SameIdentity(p, n.status(), primary, secondary)) {
      owner->SetVersion(n, p.version());
      return;
    }
    ++diff.changed;
    owner->SetVersion(n, p.version() + 1);
    retired->Set(IdentityName(n.hub(), n.device_id(), n.module_id()),
                 Rotated(p, previous->RetiredKeys(p), primary, secondary, now, options_.retention));
  };
  next->ForEachIdentity([&](const IdentityRef& n) {
    if (overlay == nullptr || !overlay->Shadows(n.hub(), n.device_id(), n.module_id(), n.hash())) {
      carry(n, next.get());
    }
  });
  if (overlay != nullptr) {
    overlay->ForEachOwnEntry([&](const IdentityRef& n, bool hidden) {
      if (!hidden) carry(n, overlay.get());
    });
  }
  diff.removed = previous->size() - kept;

  // Identities no longer served take their history with them.
  const IdentityTable& visible = overlay != nullptr ? *overlay : *next;
  std::vector<std::string> gone;
  retired->ForEach([&](absl::string_view name, const RetiredKeyList&) {
    absl::string_view hub, device, module;
    if (!SplitIdentityName(name, &hub, &device, &module) || !visible.Find(hub, device, module)) {
      gone.emplace_back(name);
    }
  });
  for (const std::string& name : gone) retired->Erase(name);
  retired->Prune(options_.retention, now);

  IdentityTable& top = overlay != nullptr ? *overlay : *next;
  top.SetRetiredKeys(std::move(retired));
  top.Compact();
  if (dropped > 0) {
    Log(LogLevel::kWarning,
        options_.authoritative
            ? "admin changes for hubs no longer served were dropped by the reload"
            : "the reload dropped the admin changes: the files win (admin.authoritative is false)",
        {{"dropped", absl::StrCat(dropped)}, {"kept", absl::StrCat(changes - dropped)}});
  }
  Publish(overlay != nullptr ? std::shared_ptr<const IdentityTable>(std::move(overlay))
                             : std::shared_ptr<const IdentityTable>(std::move(next)));
  return diff;
}

absl::StatusOr<PutKeysResult> KeyAdmin::PutKeys(std::vector<AdminKeyEntry> entries,
                                                absl::string_view caller) {
  if (entries.size() > options_.max_entries_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("PutKeys takes at most ",
                                                   options_.max_entries_per_request,
                                                   " entries; got ", entries.size()));
  }
  absl::MutexLock lock(&mu_);
  if (current_ == nullptr) return absl::UnavailableError("keys are not loaded yet");
  // Everything is checked before anything changes: a request applies whole or not at all.
  absl::flat_hash_set<std::string> names;
  std::vector<std::string> ordered;
  for (size_t i = 0; i < entries.size(); ++i) {
    const AdminKeyEntry& e = entries[i];
    const std::string path = absl::StrCat("entries[", i, "]");
    if (absl::Status s = ValidateIdentity(e.identity, absl::StrCat(path, ".identity")); !s.ok()) {
      return s;
    }
    if (!e.primary && !e.secondary) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": needs primary_key or secondary_key"));
    }
    if (!current_->ServesHub(e.identity.hub)) {
      return absl::NotFoundError(absl::StrCat(path, ".identity.hub: hub ", e.identity.hub,
                                              " is not served by this server"));
    }
    std::string name = IdentityName(e.identity.hub, e.identity.device_id, e.identity.module_id);
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".identity: repeats the identity of an earlier entry"));
    }
    ordered.push_back(std::move(name));
  }
  PutKeysResult result;
  if (entries.empty()) return result;

  const int64_t now = absl::ToUnixSeconds(clock_->Now());
  const std::shared_ptr<const IdentityTable> previous = current_;
  size_t dropped = 0;
  std::shared_ptr<IdentityTable> overlay = NewOverlay(names, &dropped);
  std::shared_ptr<RetiredKeyIndex> retired = RetiredCopy();
  for (size_t i = 0; i < entries.size(); ++i) {
    AdminKeyEntry& e = entries[i];
    const AdminIdentity& id = e.identity;
    IdentityKeys keys;
    keys.status = e.status;
    keys.primary = std::move(e.primary);
    keys.secondary = std::move(e.secondary);
    const HmacKey* primary = keys.primary ? &*keys.primary : nullptr;
    const HmacKey* secondary = keys.secondary ? &*keys.secondary : nullptr;
    const IdentityRef p = previous->Find(id.hub, id.device_id, id.module_id);
    if (!p) {
      ++result.added;
      keys.version = 1;
      retired->Erase(ordered[i]);
    } else if (SameIdentity(p, keys.status, primary, secondary)) {
      ++result.unchanged;
      keys.version = p.version();
    } else {
      ++result.changed;
      keys.version = p.version() + 1;
      retired->Set(ordered[i], Rotated(p, previous->RetiredKeys(p), primary, secondary, now,
                                       options_.retention));
    }
    if (absl::Status s = overlay->Add(id.hub, id.device_id, id.module_id, keys); !s.ok()) {
      // Validated above (hub served, names unique): a broken invariant.
      return absl::InternalError(absl::StrCat("entries[", i, "]: ", s.message()));
    }
  }
  retired->Prune(options_.retention, now);
  overlay->SetRetiredKeys(std::move(retired));
  overlay->Compact();
  const size_t changes = overlay->own_entries();
  Publish(std::move(overlay));
  Log(LogLevel::kInfo, "admin PutKeys",
      {{"caller", caller},
       {"added", absl::StrCat(result.added)},
       {"changed", absl::StrCat(result.changed)},
       {"unchanged", absl::StrCat(result.unchanged)},
       {"admin_changes", absl::StrCat(changes)},
       {"identities", Names(ordered)}});
  return result;
}

absl::StatusOr<uint32_t> KeyAdmin::DeleteKeys(absl::Span<const AdminIdentity> identities,
                                              absl::string_view caller) {
  if (identities.size() > options_.max_entries_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("DeleteKeys takes at most ",
                                                   options_.max_entries_per_request,
                                                   " identities; got ", identities.size()));
  }
  for (size_t i = 0; i < identities.size(); ++i) {
    if (absl::Status s = ValidateIdentity(identities[i], absl::StrCat("identities[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  absl::MutexLock lock(&mu_);
  if (current_ == nullptr) return absl::UnavailableError("keys are not loaded yet");
  absl::flat_hash_set<std::string> names;
  std::vector<const AdminIdentity*> found;
  std::vector<std::string> ordered;
  for (const AdminIdentity& id : identities) {
    if (!current_->Find(id.hub, id.device_id, id.module_id)) continue;
    std::string name = IdentityName(id.hub, id.device_id, id.module_id);
    if (!names.insert(name).second) continue;
    found.push_back(&id);
    ordered.push_back(std::move(name));
  }
  if (found.empty()) return 0u;
  size_t dropped = 0;
  std::shared_ptr<IdentityTable> overlay = NewOverlay(names, &dropped);
  std::shared_ptr<RetiredKeyIndex> retired = RetiredCopy();
  for (size_t i = 0; i < found.size(); ++i) {
    if (absl::Status s = overlay->Hide(found[i]->hub, found[i]->device_id, found[i]->module_id);
        !s.ok()) {
      return absl::InternalError(s.message());  // found above, so its hub is served
    }
    retired->Erase(ordered[i]);
  }
  retired->Prune(options_.retention, absl::ToUnixSeconds(clock_->Now()));
  overlay->SetRetiredKeys(std::move(retired));
  overlay->Compact();
  const size_t changes = overlay->own_entries();
  Publish(std::move(overlay));
  Log(LogLevel::kInfo, "admin DeleteKeys",
      {{"caller", caller},
       {"requested", absl::StrCat(identities.size())},
       {"deleted", absl::StrCat(found.size())},
       {"admin_changes", absl::StrCat(changes)},
       {"identities", Names(ordered)}});
  return static_cast<uint32_t>(found.size());
}

absl::StatusOr<KeyPage> KeyAdmin::ListKeys(absl::string_view hub, uint32_t page_size,
                                           absl::string_view page_token) const {
  if (hub.empty()) return absl::InvalidArgumentError("hub is required");
  const std::shared_ptr<const IdentityTable> table = store_->Snapshot();
  if (table == nullptr) return absl::UnavailableError("keys are not loaded yet");
  if (!table->ServesHub(hub)) {
    return absl::NotFoundError(absl::StrCat("hub ", hub, " is not served by this server"));
  }
  const size_t limit = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  std::string after_device, after_module;
  if (!page_token.empty()) {
    absl::StatusOr<std::string> text = Base64Decode(page_token, "page_token");
    std::vector<std::string> parts;
    if (text.ok()) parts = absl::StrSplit(*text, kTokenSeparator);
    if (parts.size() != 3 || parts[0] != hub || parts[1].empty()) {
      return absl::InvalidArgumentError(
          "page_token is malformed or belongs to another hub: pass next_page_token unchanged, "
          "with the same hub");
    }
    after_device = std::move(parts[1]);
    after_module = std::move(parts[2]);
  }
  KeyPage page;
  const bool more =
      table->ListIdentities(hub, after_device, after_module, limit, [&](const IdentityRef& ref) {
        KeyInfoData info;
        info.identity = {std::string(ref.hub()), std::string(ref.device_id()),
                         std::string(ref.module_id())};
        info.status = ref.status();
        if (const HmacKey* k = ref.key(KeySlot::kPrimary))
          info.primary_fingerprint = k->Fingerprint();
        if (const HmacKey* k = ref.key(KeySlot::kSecondary)) {
          info.secondary_fingerprint = k->Fingerprint();
        }
        info.version = ref.version();
        info.source = ref.source();
        page.keys.push_back(std::move(info));
      });
  if (more && !page.keys.empty()) page.next_page_token = PageToken(hub, page.keys.back().identity);
  return page;
}

size_t KeyAdmin::PruneRetired() {
  absl::MutexLock lock(&mu_);
  if (current_ == nullptr || current_->retired_keys() == nullptr) return 0;
  std::shared_ptr<RetiredKeyIndex> retired = RetiredCopy();
  const size_t pruned = retired->Prune(options_.retention, absl::ToUnixSeconds(clock_->Now()));
  if (pruned == 0) return 0;
  // The table's identities stay; only its history changes. A plain table gets an empty
  // overlay to carry the new history (the base is shared and immutable).
  size_t dropped = 0;
  std::shared_ptr<IdentityTable> overlay = NewOverlay({}, &dropped);
  overlay->SetRetiredKeys(std::move(retired));
  overlay->Compact();
  Publish(std::move(overlay));
  Log(LogLevel::kInfo, "retired keys pruned", {{"keys", absl::StrCat(pruned)}});
  return pruned;
}

size_t KeyAdmin::admin_changes() const {
  absl::MutexLock lock(&mu_);
  return current_ != nullptr && current_->base() != nullptr ? current_->own_entries() : 0;
}

}  // namespace sasmint
