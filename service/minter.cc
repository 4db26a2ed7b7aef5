#include "service/minter.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"
#include "signer/sas_token.h"

namespace sasmint {
namespace {

// Fnv1a64 is a stable hash (unlike absl::Hash, which is seeded per process): replicas must
// agree on renew_after for the same token.
uint64_t Fnv1a64(absl::string_view a, int64_t b) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](uint8_t byte) {
    h ^= byte;
    h *= 0x100000001b3ull;
  };
  for (char c : a) mix(static_cast<uint8_t>(c));
  mix('\n');
  for (int i = 0; i < 8; ++i) mix(static_cast<uint8_t>(static_cast<uint64_t>(b) >> (8 * i)));
  // FNV's low bits mix poorly into the high ones; finish with a multiply-xorshift (splitmix64).
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

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

int64_t Minter::RenewAfter(absl::string_view encoded_resource, int64_t expires_at,
                           uint32_t ttl_seconds) const {
  const double unit = static_cast<double>(Fnv1a64(encoded_resource, expires_at) >> 11) *
                      (1.0 / 9007199254740992.0);  // [0, 1) from the top 53 bits
  const double fraction = options_.renew_window_start +
                          (options_.renew_window_end - options_.renew_window_start) * unit;
  const int64_t issued = expires_at - ttl_seconds;
  return issued + static_cast<int64_t>(std::floor(fraction * ttl_seconds));
}

namespace {

// Signer is what a scope resolves to: the key that signs, the sr text and the skn.
struct Signer {
  const StoredKey* key = nullptr;
  KeySlot slot = KeySlot::kPrimary;
  std::string encoded_resource;
  std::string key_name;
  std::optional<StoredKey> derived;  // DPS: the device key derived for this request
};

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

absl::StatusOr<MintedToken> Minter::Mint(const IdentityTable& table, const MintRequest& request,
                                         absl::Time now) const {
  const TokenScope& scope = request.scope;
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;

  uint32_t ttl = request.ttl_seconds == 0 ? options_.default_ttl_seconds : request.ttl_seconds;
  if (ttl < options_.min_ttl_seconds) {
    return absl::InvalidArgumentError(absl::StrCat("ttl_seconds ", ttl, " is below the minimum of ",
                                                   options_.min_ttl_seconds));
  }
  if (ttl > options_.max_ttl_seconds) ttl = options_.max_ttl_seconds;

  Signer signer;
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
    signer.derived = StoredKey{HmacKey::FromBytes(derived), {}};
    crypto::Cleanse(derived.data(), derived.size());
    signer.key = &*signer.derived;
    signer.slot = picked->second;
    signer.encoded_resource = EncodedResource(scope);
    signer.key_name = "registration";
  } else {
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
      std::tie(signer.key, signer.slot) = *picked;
      signer.encoded_resource = EncodedResource(scope);
      signer.key_name = policy->name;
    } else {
      const KeyEntry* entry = table.Find(scope.hub, scope.device_id, scope.module_id);
      if (entry != nullptr && entry->status == IdentityStatus::kDisabled) {
        return absl::FailedPreconditionError(
            absl::StrCat(DescribeIdentity(scope), " is disabled in hub '", scope.hub, "'"));
      }
      if (!hub->device_policy.empty()) {
        // The "token service" pattern: a DeviceConnect policy signs for every device of the
        // hub, so identities need not be listed (but listed ones may be disabled, above).
        const PolicyEntry* policy = table.FindPolicy(scope.hub, hub->device_policy);
        if (policy == nullptr) {
          return absl::FailedPreconditionError(
              absl::StrCat("device policy '", hub->device_policy, "' of hub '", scope.hub,
                           "' is not configured"));
        }
        auto picked = PickSlot(policy->primary, policy->secondary, request.key_slot,
                               hub->active_slot, absl::StrCat("policy '", policy->name, "'"));
        if (!picked.ok()) return picked.status();
        std::tie(signer.key, signer.slot) = *picked;
        signer.encoded_resource =
            entry != nullptr ? entry->encoded_resource : EncodedResource(scope);
        signer.key_name = policy->name;
      } else {
        if (entry == nullptr) {
          return absl::NotFoundError(absl::StrCat(DescribeIdentity(scope),
                                                  " is not registered in hub '", scope.hub, "'"));
        }
        if (!entry->primary.has_value() && !entry->secondary.has_value()) {
          return absl::FailedPreconditionError(
              absl::StrCat(DescribeIdentity(scope), " authenticates with ", entry->auth_type,
                           ", not a symmetric key"));
        }
        auto picked = PickSlot(entry->primary, entry->secondary, request.key_slot,
                               hub->active_slot, DescribeIdentity(scope));
        if (!picked.ok()) return picked.status();
        std::tie(signer.key, signer.slot) = *picked;
        signer.encoded_resource = entry->encoded_resource;
      }
    }
  }

  MintedToken out;
  out.server_time = absl::ToUnixSeconds(now);
  out.expires_at = out.server_time + ttl;
  if (absl::Status s = ValidateExpiry(out.expires_at); !s.ok()) return s;
  const std::string sts = StringToSign(signer.encoded_resource, out.expires_at);
  const Mac mac = signer.key->hmac.Sign(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
  out.token = FormatToken(signer.encoded_resource, mac, out.expires_at, signer.key_name);
  out.renew_after = RenewAfter(signer.encoded_resource, out.expires_at, ttl);
  out.key_slot = signer.slot;
  return out;
}

}  // namespace sasmint
