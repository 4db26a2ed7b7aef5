// minter.h: turns a mint request into a token, using the identities of a key store snapshot.
//
// The gRPC-free core of TokenService: validation of the scope, lookup, the status codes of
// DESIGN.md §4, TTL defaults and caps, and the jittered renew-after point. The service layer
// only translates protobuf to MintRequest and back. Minter is immutable and thread-safe.
#ifndef SASMINT_SERVICE_MINTER_H_
#define SASMINT_SERVICE_MINTER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/keystore/key_store.h"
#include "signer/sas_token.h"

namespace sasmint {

struct MintOptions {
  uint32_t default_ttl_seconds = 3600;  // used when a request asks for 0
  uint32_t min_ttl_seconds = 60;        // shorter requests are refused
  uint32_t max_ttl_seconds = 86400;     // longer requests are capped
  // renew_after falls in [renew_window_start, renew_window_end] of the lifetime.
  double renew_window_start = 0.70;
  double renew_window_end = 0.85;
  uint32_t max_batch_size = 10000;
};

// ValidateMintOptions returns INVALID_ARGUMENT naming the inconsistent option.
absl::Status ValidateMintOptions(const MintOptions& options);

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

class Minter {
 public:
  explicit Minter(MintOptions options) : options_(options) {}

  // Mint returns a token for `request` signed with a key from `table`, minted at `now`:
  // device and module scopes with the identity's key, or with the hub's device policy when one
  // is configured; policy scopes with the policy's key (skn = policy); DPS registrations with
  // the device key derived from the enrollment group (skn = registration). KeySlot::kActive
  // means the hub's active slot (primary for DPS). Errors: INVALID_ARGUMENT (bad scope or TTL),
  // NOT_FOUND (hub, identity, policy, ID scope or group not served), FAILED_PRECONDITION
  // (identity disabled, X.509 identity, no key in the slot). Messages never contain keys.
  absl::StatusOr<MintedToken> Mint(const IdentityTable& table, const MintRequest& request,
                                   absl::Time now) const;

  // RenewAfter returns the renew-after point for a token of `ttl_seconds` expiring at
  // `expires_at` for `encoded_resource`: deterministic, so every replica and retry agrees.
  int64_t RenewAfter(absl::string_view encoded_resource, int64_t expires_at,
                     uint32_t ttl_seconds) const;

  const MintOptions& options() const { return options_; }

 private:
  MintOptions options_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_MINTER_H_
