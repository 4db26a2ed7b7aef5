#include "service/minter.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/keystore/internal/identity_index.h"
#include "signer/crypto_backend.h"
#include "signer/sas_token.h"

namespace sasmint {
namespace {

std::string DescribeIdentity(const TokenScope& scope) {
  if (scope.kind == ScopeKind::kModule) {
    return absl::StrCat("module '", scope.module_id, "' of device '", scope.device_id, "'");
  }
  return absl::StrCat("device '", scope.device_id, "'");
}

}  // namespace

absl::Status ValidateMintOptions(const MintOptions& o) {
  if (o.default_ttl_seconds == 0) return absl::InvalidArgumentError("default TTL must be > 0");
  if (o.min_ttl_seconds > o.default_ttl_seconds || o.default_ttl_seconds > o.max_ttl_seconds) {
    return absl::InvalidArgumentError("TTLs must satisfy min <= default <= max");
  }
  if (!(o.renew_window_start > 0 && o.renew_window_start <= o.renew_window_end &&
        o.renew_window_end < 1)) {
    return absl::InvalidArgumentError("renew window must satisfy 0 < start <= end < 1");
  }
  if (o.max_batch_size == 0) return absl::InvalidArgumentError("max batch size must be > 0");
  return absl::OkStatus();
}

int64_t Minter::RenewAfter(uint64_t resource_hash, int64_t expires_at,
                           uint32_t ttl_seconds) const {
  uint64_t h = resource_hash ^ (static_cast<uint64_t>(expires_at) * 0x9e3779b97f4a7c15ull);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  const double unit = static_cast<double>(h >> 11) *
                      (1.0 / 9007199254740992.0);  // [0, 1) from the top 53 bits
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

absl::StatusOr<ResolvedMint> Minter::Resolve(const IdentityTable& table,
                                             const MintRequest& request) const {
  const TokenScope& scope = request.scope;
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;

  ResolvedMint out;
  out.ttl_seconds_ =
      request.ttl_seconds == 0 ? options_.default_ttl_seconds : request.ttl_seconds;
  if (out.ttl_seconds_ < options_.min_ttl_seconds) {
    return absl::InvalidArgumentError(absl::StrCat("ttl_seconds ", out.ttl_seconds_,
                                                   " is below the minimum of ",
                                                   options_.min_ttl_seconds));
  }
  if (out.ttl_seconds_ > options_.max_ttl_seconds) out.ttl_seconds_ = options_.max_ttl_seconds;

  const auto use = [&out](const std::pair<const StoredKey*, KeySlot>& picked) {
    out.table_key_ = &picked.first->hmac;
    out.slot_ = picked.second;
  };
  if (scope.kind == ScopeKind::kRegistration) {
    if (!table.ServesIdScope(scope.id_scope)) {
      return absl::NotFoundError(absl::StrCat("DPS ID scope '", scope.id_scope,
                                              "' has no enrollment group here"));
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
    // The device key is HMAC(group key, registration ID); only its midstates are kept, and only
    // for this request.
    const std::string& id = scope.registration_id;
    Mac derived = picked->first->hmac.Sign(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(id.data()), id.size()));
    out.derived_.emplace(HmacKey::FromBytes(derived));
    crypto::Cleanse(derived.data(), derived.size());
    out.slot_ = picked->second;
    out.owned_resource_ = EncodedResource(scope);
    out.resource_hash_ = StableHash(out.owned_resource_);
    out.key_name_ = "registration";
    return out;
  }

  const HubSettings* hub = table.Settings(scope.hub);
  if (hub == nullptr) {
    return absl::NotFoundError(absl::StrCat("hub '", scope.hub, "' is not served here"));
  }
  if (scope.kind == ScopeKind::kPolicy) {
    const PolicyEntry* policy = table.FindPolicy(scope.hub, scope.policy);
    if (policy == nullptr) {
      return absl::NotFoundError(absl::StrCat("policy '", scope.policy,
                                              "' is not configured for hub '", scope.hub, "'"));
    }
    auto picked = PickSlot(policy->primary, policy->secondary, request.key_slot,
                           hub->active_slot, absl::StrCat("policy '", policy->name, "'"));
    if (!picked.ok()) return picked.status();
    use(*picked);
    out.owned_resource_ = EncodedResource(scope);
    out.resource_hash_ = StableHash(out.owned_resource_);
    out.key_name_ = policy->name;
    return out;
  }

  const IdentityRef entry = table.Find(scope.hub, scope.device_id, scope.module_id);
  if (entry && entry.status() == IdentityStatus::kDisabled) {
    return absl::FailedPreconditionError(
        absl::StrCat(DescribeIdentity(scope), " is disabled in hub '", scope.hub, "'"));
  }
  // The sr is composed here rather than stored per identity: percent-encoding a short ID costs
  // less than the memory it would take for millions of identities.
  out.owned_resource_ = EncodedResource(scope);
  out.resource_hash_ = entry ? entry.hash()
                             : internal::IdentityHash(scope.hub, scope.device_id, scope.module_id);
  if (!hub->device_policy.empty()) {
    // The "token service" pattern: a DeviceConnect policy signs for every device of the hub, so
    // identities need not be listed (but listed ones may be disabled, above).
    const PolicyEntry* policy = table.FindPolicy(scope.hub, hub->device_policy);
    if (policy == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device policy '", hub->device_policy, "' of hub '", scope.hub, "' is not configured"));
    }
    auto picked = PickSlot(policy->primary, policy->secondary, request.key_slot,
                           hub->active_slot, absl::StrCat("policy '", policy->name, "'"));
    if (!picked.ok()) return picked.status();
    use(*picked);
    out.key_name_ = policy->name;
    return out;
  }
  if (!entry) {
    return absl::NotFoundError(
        absl::StrCat(DescribeIdentity(scope), " is not registered in hub '", scope.hub, "'"));
  }
  if (!entry.has_keys()) {
    return absl::FailedPreconditionError(absl::StrCat(
        DescribeIdentity(scope), " authenticates with ", entry.auth_type(), ", not a symmetric key"));
  }
  const KeySlot slot = request.key_slot == KeySlot::kActive ? hub->active_slot : request.key_slot;
  const HmacKey* key = entry.key(slot);
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(DescribeIdentity(scope), " has no ",
                     slot == KeySlot::kSecondary ? "secondary" : "primary", " key"));
  }
  out.table_key_ = key;
  out.slot_ = slot;
  return out;
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
  MintedTokens tokens;
  if (absl::Status s = signer_.MintBatch(absl::MakeConstSpan(&job, 1), &tokens); !s.ok()) {
    return s;
  }
  out.token = std::string(tokens[0]);
  return out;
}

}  // namespace sasmint
