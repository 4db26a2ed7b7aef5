#include "service/minter.h"

#include <cmath>

#include "absl/strings/str_cat.h"
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

absl::StatusOr<MintedToken> Minter::Mint(const IdentityTable& table, const MintRequest& request,
                                         absl::Time now) const {
  const TokenScope& scope = request.scope;
  if (scope.kind == ScopeKind::kPolicy || scope.kind == ScopeKind::kRegistration) {
    return absl::UnimplementedError(
        "policy and DPS registration tokens are not served yet: only device and module scopes");
  }
  if (absl::Status s = ValidateScope(scope); !s.ok()) return s;

  uint32_t ttl = request.ttl_seconds == 0 ? options_.default_ttl_seconds : request.ttl_seconds;
  if (ttl < options_.min_ttl_seconds) {
    return absl::InvalidArgumentError(absl::StrCat("ttl_seconds ", ttl, " is below the minimum of ",
                                                   options_.min_ttl_seconds));
  }
  if (ttl > options_.max_ttl_seconds) ttl = options_.max_ttl_seconds;

  if (!table.ServesHub(scope.hub)) {
    return absl::NotFoundError(absl::StrCat("hub '", scope.hub, "' is not served here"));
  }
  const KeyEntry* entry = table.Find(scope.hub, scope.device_id, scope.module_id);
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat(DescribeIdentity(scope), " is not registered in hub '",
                                            scope.hub, "'"));
  }
  if (entry->status == IdentityStatus::kDisabled) {
    return absl::FailedPreconditionError(
        absl::StrCat(DescribeIdentity(scope), " is disabled in hub '", scope.hub, "'"));
  }
  const bool secondary = request.key_slot == KeySlot::kSecondary;
  const std::optional<StoredKey>& key = secondary ? entry->secondary : entry->primary;
  if (!key.has_value()) {
    if (!entry->primary.has_value() && !entry->secondary.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(DescribeIdentity(scope), " authenticates with ", entry->auth_type,
                       ", not a symmetric key"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        DescribeIdentity(scope), " has no ", secondary ? "secondary" : "primary", " key"));
  }

  MintedToken out;
  out.server_time = absl::ToUnixSeconds(now);
  out.expires_at = out.server_time + ttl;
  if (absl::Status s = ValidateExpiry(out.expires_at); !s.ok()) return s;
  const std::string sts = StringToSign(entry->encoded_resource, out.expires_at);
  const Mac mac = key->hmac.Sign(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
  out.token = FormatToken(entry->encoded_resource, mac, out.expires_at, "");
  out.renew_after = RenewAfter(entry->encoded_resource, out.expires_at, ttl);
  out.key_slot = secondary ? KeySlot::kSecondary : KeySlot::kPrimary;
  return out;
}

}  // namespace sasmint
