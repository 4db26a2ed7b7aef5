// minter.h: turns a mint request into a token, using the identities of a key store snapshot.
//
// The mint core: validation of the scope, lookup, the status codes of the API (docs/design.md §4,
// "Status codes"), TTL defaults and caps, and the jittered renew-after point. A Minter resolves
// one request at a time (Resolve*) and signs through the BatchSigner; whole batches go through
// BatchMinter (batch_minter.h), which overlaps their lookups. Minter is immutable and
// thread-safe.
#ifndef SASMINT_SERVICE_MINT_MINTER_H_
#define SASMINT_SERVICE_MINT_MINTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/keystore/derived_key_cache.h"
#include "service/keystore/key_store.h"
#include "service/mint/mint_options.h"
#include "signer/batch_signer.h"
#include "signer/sas_token.h"

namespace sasmint {

struct MintRequest {
  TokenScope scope;
  uint32_t ttl_seconds = 0;
  KeySlot key_slot = KeySlot::kActive;
};

struct MintedToken {
  std::string token;
  int64_t expires_at = 0;
  int64_t renew_after = 0;
  int64_t server_time = 0;
  KeySlot key_slot = KeySlot::kPrimary;  // the slot that signed
};

// ResolvedMint is a request resolved against a table: the key that signs and the texts of the
// token. It borrows its key from the table it was resolved against (keep the snapshot alive)
// unless it owns one (a DPS device key derived for it); it owns the resource text.
class ResolvedMint {
 public:
  const HmacKey& key() const { return derived_ ? *derived_ : *table_key_; }
  absl::string_view encoded_resource() const { return owned_resource_; }
  absl::string_view key_name() const { return key_name_; }
  KeySlot slot() const { return slot_; }
  uint32_t ttl_seconds() const { return ttl_seconds_; }
  uint64_t resource_hash() const { return resource_hash_; }
  // ClearDerivedKey drops (and so wipes) a DPS device key derived for this request.
  void ClearDerivedKey() { derived_.reset(); }

 private:
  friend class Minter;
  // Reset empties the view for reuse, keeping the resource buffer's capacity.
  void Reset() {
    table_key_ = nullptr;
    derived_.reset();
    owned_resource_.clear();
    key_name_.clear();
    slot_ = KeySlot::kPrimary;
    ttl_seconds_ = 0;
    resource_hash_ = 0;
  }
  const HmacKey* table_key_ = nullptr;
  std::optional<HmacKey> derived_;
  std::string owned_resource_;
  std::string key_name_;
  KeySlot slot_ = KeySlot::kPrimary;
  uint32_t ttl_seconds_ = 0;
  uint64_t resource_hash_ = 0;  // StableHash(encoded_resource())
};

class Minter {
 public:
  // Minter signs with `signer` (BatchSigner::Best() in the service).
  Minter(MintOptions options, BatchSigner signer)
      : options_(options),
        signer_(signer),
        derived_keys_(std::make_shared<DerivedKeyCache>(options.dps_key_cache_size)) {}

  // Resolve finds the key and token texts for `request` in `table`: device and module scopes
  // with the identity's key, or with the hub's device policy when one is configured; policy
  // scopes with the policy's key (skn = policy); DPS registrations with the device key derived
  // from the enrollment group (skn = registration). KeySlot::kActive means the hub's active slot
  // (primary for DPS). Errors: INVALID_ARGUMENT (bad scope or TTL), NOT_FOUND (hub, identity,
  // policy, ID scope or group not served), FAILED_PRECONDITION (identity disabled, X.509
  // identity, no key in the slot). Messages never contain key material.
  absl::StatusOr<ResolvedMint> Resolve(const IdentityTable& table,
                                       const MintRequest& request) const;
  // ResolveInto is Resolve into a reused ResolvedMint (no allocation once its buffers grew).
  absl::Status ResolveInto(const IdentityTable& table, const MintRequest& request,
                           ResolvedMint* out) const;
  // ResolveIdentityInto is ResolveInto for a device (module_id empty) or module scope given as
  // views, which then builds no TokenScope.
  absl::Status ResolveIdentityInto(const IdentityTable& table, absl::string_view hub,
                                   absl::string_view device_id, absl::string_view module_id,
                                   uint32_t ttl_seconds, KeySlot key_slot, ResolvedMint* out) const;
  // ResolveFoundInto is ResolveIdentityInto for an identity the caller has already looked up:
  // `found` is table.Find(hub, device_id, module_id, hash) (false if absent) and `hash` its
  // IdentityTable::IdentityHash. The batch pipeline finds each item once, ahead of resolving it.
  absl::Status ResolveFoundInto(const IdentityTable& table, absl::string_view hub,
                                absl::string_view device_id, absl::string_view module_id,
                                uint32_t ttl_seconds, KeySlot key_slot, uint64_t hash,
                                const IdentityRef& found, ResolvedMint* out) const;

  // Complete returns the token's metadata for a resolved request minted at `now_seconds`; the
  // token text is the caller's to fill (BatchSigner::MintBatch).
  MintedToken Complete(const ResolvedMint& resolved, int64_t now_seconds) const;

  // Mint is Resolve, then one token through the batch signer, minted at `now`.
  absl::StatusOr<MintedToken> Mint(const IdentityTable& table, const MintRequest& request,
                                   absl::Time now) const;

  // RenewAfter returns the renew-after point for a token of `ttl_seconds` expiring at
  // `expires_at` for the resource whose StableHash is `resource_hash`: deterministic, so every
  // replica and retry agrees, and spread over the renew window across identities and expiries.
  int64_t RenewAfter(uint64_t resource_hash, int64_t expires_at, uint32_t ttl_seconds) const;

  const MintOptions& options() const { return options_; }
  const BatchSigner& signer() const { return signer_; }
  // derived_keys returns the cache of DPS device keys (for its counters).
  const DerivedKeyCache& derived_keys() const { return *derived_keys_; }

 private:
  absl::Status ApplyTtl(uint32_t requested, ResolvedMint* out) const;

  MintOptions options_;
  BatchSigner signer_;
  std::shared_ptr<DerivedKeyCache> derived_keys_;  // thread-safe; shared by copies
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_MINT_MINTER_H_
