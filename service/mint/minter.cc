#include "service/mint/minter.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint {

int64_t Minter::RenewAfter(uint64_t resource_hash, int64_t expires_at, uint32_t ttl_seconds) const {
  uint64_t h = resource_hash ^ (static_cast<uint64_t>(expires_at) * 0x9e3779b97f4a7c15ull);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  const double unit =
      static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1) from the top 53 bits
  const double fraction = options_.renew_window_start +
                          (options_.renew_window_end - options_.renew_window_start) * unit;
  const int64_t issued = expires_at - ttl_seconds;
  return issued + static_cast<int64_t>(std::floor(fraction * ttl_seconds));
}

namespace {

// PickSlot resolves kActive to `active` and returns the key of that slot, or
// FAILED_PRECONDITION naming `what` and the missing slot.
absl::StatusOr<std::pair<const StoredKey*, KeySlot>> PickSlot(
    const std::optional<StoredKey>& primary, const std::optional<StoredKey>& secondary,
    KeySlot requested, KeySlot active, absl::string_view what) {
  const KeySlot slot = requested == KeySlot::kActive ? active : requested;
  const std::optional<StoredKey>& key = slot == KeySlot::kSecondary ? secondary : primary;
  if (!key.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " has no ", slot == KeySlot::kSecondary ? "secondary" : "primary", " key"));
  }
  return std::make_pair(&*key, slot);
}

}  // namespace

absl::Status Minter::ApplyTtl(uint32_t requested, ResolvedMint* out) const {
  out->ttl_seconds_ = requested == 0 ? options_.default_ttl_seconds : requested;
  if (out->ttl_seconds_ < options_.min_ttl_seconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ttl_seconds ", out->ttl_seconds_, " is below the minimum of ", options_.min_ttl_seconds));
  }
  if (out->ttl_seconds_ > options_.max_ttl_seconds) out->ttl_seconds_ = options_.max_ttl_seconds;
  return absl::OkStatus();
}

absl::StatusOr<ResolvedMint> Minter::Resolve(const IdentityTable& table,
                                             const MintRequest& request) const {
  ResolvedMint out;
  if (absl::Status s = ResolveInto(table, request, &out); !s.ok()) return s;
  return out;
}

absl::Status Minter::ResolveInto(const IdentityTable& table, const MintRequest& request,
                                 ResolvedMint* out_ptr) const {
  const TokenScope& scope = request.scope;
  if (scope.kind == ScopeKind::kDevice || scope.kind == ScopeKind::kModule) {
    return ResolveIdentityInto(
        table, scope.hub, scope.device_id,
        scope.kind == ScopeKind::kModule ? absl::string_view(scope.module_id) : absl::string_view(),
        request.ttl_seconds, request.key_slot, out_ptr);
  }
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;
  ResolvedMint& out = *out_ptr;
  out.Reset();
  if (absl::Status s = ApplyTtl(request.ttl_seconds, &out); !s.ok()) return s;

  const auto use = [&out](const std::pair<const StoredKey*, KeySlot>& picked) {
    out.table_key_ = &picked.first->hmac;
    out.slot_ = picked.second;
  };
  if (scope.kind == ScopeKind::kRegistration) {
    if (!table.ServesIdScope(scope.id_scope)) {
      return absl::NotFoundError(
          absl::StrCat("DPS ID scope '", scope.id_scope, "' has no enrollment group here"));
    }
    const DpsGroupEntry* group = table.FindDpsGroup(scope.id_scope, scope.registration_id);
    if (group == nullptr) {
      return absl::NotFoundError(absl::StrCat("no enrollment group of ID scope '", scope.id_scope,
                                              "' covers registration '", scope.registration_id,
                                              "'"));
    }
    auto picked = PickSlot(group->primary, group->secondary, request.key_slot, KeySlot::kPrimary,
                           absl::StrCat("enrollment group '", group->name, "'"));
    if (!picked.ok()) return picked.status();
    // The device key is HMAC(group key, registration ID), derived on first use and cached as
    // midstates (keyed by the group key's fingerprint, so a rotated group key starts afresh).
    out.derived_.emplace(derived_keys_->GetOrDerive(picked->first->fingerprint,
                                                    scope.registration_id, picked->first->hmac));
    out.slot_ = picked->second;
    out.owned_resource_ = EncodedResource(scope);
    out.resource_hash_ = StableHash(out.owned_resource_);
    out.key_name_ = "registration";
    return absl::OkStatus();
  }

  const HubSettings* hub = table.Settings(scope.hub);
  if (hub == nullptr) {
    return absl::NotFoundError(absl::StrCat("hub '", scope.hub, "' is not served here"));
  }
  const PolicyEntry* policy = table.FindPolicy(scope.hub, scope.policy);
  if (policy == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("policy '", scope.policy, "' is not configured for hub '", scope.hub, "'"));
  }
  auto picked = PickSlot(policy->primary, policy->secondary, request.key_slot, hub->active_slot,
                         absl::StrCat("policy '", policy->name, "'"));
  if (!picked.ok()) return picked.status();
  use(*picked);
  out.owned_resource_ = EncodedResource(scope);
  out.resource_hash_ = StableHash(out.owned_resource_);
  out.key_name_ = policy->name;
  return absl::OkStatus();
}

absl::Status Minter::ResolveIdentityInto(const IdentityTable& table, absl::string_view hub_name,
                                         absl::string_view device_id, absl::string_view module_id,
                                         uint32_t ttl_seconds, KeySlot key_slot,
                                         ResolvedMint* out) const {
  const uint64_t hash = IdentityTable::IdentityHash(hub_name, device_id, module_id);
  return ResolveFoundInto(table, hub_name, device_id, module_id, ttl_seconds, key_slot, hash,
                          table.Find(hub_name, device_id, module_id, hash), out);
}

absl::Status Minter::ResolveFoundInto(const IdentityTable& table, absl::string_view hub_name,
                                      absl::string_view device_id, absl::string_view module_id,
                                      uint32_t ttl_seconds, KeySlot key_slot, uint64_t hash,
                                      const IdentityRef& entry, ResolvedMint* out_ptr) const {
  if (absl::Status s = ValidateHubHost(hub_name); !s.ok()) return s;
  if (absl::Status s = ValidateIdentityId(device_id, "device ID"); !s.ok()) return s;
  if (!module_id.empty()) {
    if (absl::Status s = ValidateIdentityId(module_id, "module ID"); !s.ok()) return s;
  }
  ResolvedMint& out = *out_ptr;
  out.Reset();
  if (absl::Status s = ApplyTtl(ttl_seconds, &out); !s.ok()) return s;
  const auto describe = [&] {
    return module_id.empty() ? absl::StrCat("device '", device_id, "'")
                             : absl::StrCat("module '", module_id, "' of device '", device_id, "'");
  };
  const HubSettings* hub = table.Settings(hub_name);
  if (hub == nullptr) {
    return absl::NotFoundError(absl::StrCat("hub '", hub_name, "' is not served here"));
  }
  if (entry && entry.status() == IdentityStatus::kDisabled) {
    return absl::FailedPreconditionError(
        absl::StrCat(describe(), " is disabled in hub '", hub_name, "'"));
  }
  // The sr is composed here rather than stored per identity: percent-encoding a short ID costs
  // less than the memory it would take for millions of identities. The buffer is reused.
  PercentEncodeTo(hub_name, &out.owned_resource_);
  out.owned_resource_.append("%2Fdevices%2F");
  PercentEncodeTo(device_id, &out.owned_resource_);
  if (!module_id.empty()) {
    out.owned_resource_.append("%2Fmodules%2F");
    PercentEncodeTo(module_id, &out.owned_resource_);
  }
  out.resource_hash_ = hash;
  if (!hub->device_policy.empty()) {
    // The "token service" pattern: a DeviceConnect policy signs for every device of the hub, so
    // identities need not be listed (but listed ones may be disabled, above).
    const PolicyEntry* policy = table.FindPolicy(hub_name, hub->device_policy);
    if (policy == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device policy '", hub->device_policy, "' of hub '", hub_name, "' is not configured"));
    }
    auto picked = PickSlot(policy->primary, policy->secondary, key_slot, hub->active_slot,
                           absl::StrCat("policy '", policy->name, "'"));
    if (!picked.ok()) return picked.status();
    out.table_key_ = &picked->first->hmac;
    out.slot_ = picked->second;
    out.key_name_ = policy->name;
    return absl::OkStatus();
  }
  if (!entry) {
    return absl::NotFoundError(
        absl::StrCat(describe(), " is not registered in hub '", hub_name, "'"));
  }
  if (!entry.has_keys()) {
    return absl::FailedPreconditionError(absl::StrCat(describe(), " authenticates with ",
                                                      entry.auth_type(), ", not a symmetric key"));
  }
  const KeySlot slot = key_slot == KeySlot::kActive ? hub->active_slot : key_slot;
  const HmacKey* key = entry.key(slot);
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        describe(), " has no ", slot == KeySlot::kSecondary ? "secondary" : "primary", " key"));
  }
  out.table_key_ = key;
  out.slot_ = slot;
  return absl::OkStatus();
}

MintedToken Minter::Complete(const ResolvedMint& resolved, int64_t now_seconds) const {
  MintedToken out;
  out.server_time = now_seconds;
  out.expires_at = now_seconds + resolved.ttl_seconds();
  out.renew_after = RenewAfter(resolved.resource_hash(), out.expires_at, resolved.ttl_seconds());
  out.key_slot = resolved.slot();
  return out;
}

absl::StatusOr<MintedToken> Minter::Mint(const IdentityTable& table, const MintRequest& request,
                                         absl::Time now) const {
  absl::StatusOr<ResolvedMint> resolved = Resolve(table, request);
  if (!resolved.ok()) return resolved.status();
  MintedToken out = Complete(*resolved, absl::ToUnixSeconds(now));
  const TokenJob job{&resolved->key(), resolved->encoded_resource(), resolved->key_name(),
                     out.expires_at};
  // Reused per thread: the unary path then allocates only the returned token string.
  thread_local MintedTokens tokens;
  if (absl::Status s = signer_.MintBatch(absl::MakeConstSpan(&job, 1), &tokens); !s.ok()) {
    return s;
  }
  out.token = std::string(tokens[0]);
  return out;
}

}  // namespace sasmint
