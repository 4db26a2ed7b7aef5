// key_store.h: the identities the service can mint for, and their keys as HMAC midstates.
//
// An IdentityTable is an immutable map from identity (hub, device, module) to KeyEntry. The
// KeyStore publishes one table at a time as a shared snapshot: readers take a
// std::shared_ptr<const IdentityTable> and use it without further locking while a writer swaps
// in a new table, so a reload never blocks or fails a reader. Key bytes are never stored: each
// key is kept as an HmacKey (midstates, wiped on destruction) plus a fingerprint.
// IdentityTable is immutable once built (thread-safe); KeyStore is thread-safe.
#ifndef SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_
#define SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "signer/hmac_sha256.h"

namespace sasmint {

enum class IdentityStatus { kEnabled, kDisabled };

// StoredKey is one key slot: the precomputed HMAC state and a fingerprint safe to show.
struct StoredKey {
  HmacKey hmac;
  std::string fingerprint;  // HmacKey::Fingerprint()
};

// KeyEntry is everything the service knows about one device or module identity.
struct KeyEntry {
  IdentityStatus status = IdentityStatus::kEnabled;
  std::optional<StoredKey> primary;    // absent for X.509 identities
  std::optional<StoredKey> secondary;
  std::string primary_thumbprint;      // X.509 thumbprints as exported (kept for diagnosis)
  std::string secondary_thumbprint;
  std::string auth_type;               // "sas", "selfSigned", "certificateAuthority", "none"
  std::string encoded_resource;        // the token's sr for this identity, computed once
  std::string source;                  // where it came from, e.g. "devices.json:12"
  uint64_t version = 1;
};

// IdentityTable maps identities to entries. Build it with Add, then share it read-only.
class IdentityTable {
 public:
  // Add inserts the identity; ALREADY_EXISTS (with the earlier source) if it is present.
  absl::Status Add(absl::string_view hub, absl::string_view device_id,
                   absl::string_view module_id, KeyEntry entry);

  // Find returns the entry or nullptr. module_id empty means the device identity.
  const KeyEntry* Find(absl::string_view hub, absl::string_view device_id,
                       absl::string_view module_id) const;

  // ServesHub returns whether any identity of `hub` is in the table.
  bool ServesHub(absl::string_view hub) const { return hubs_.contains(hub); }

  size_t size() const { return entries_.size(); }

 private:
  // Keyed by the unencoded resource URI ({hub}/devices/{device}[/modules/{module}]): unique,
  // because IDs cannot contain '/'.
  absl::flat_hash_map<std::string, KeyEntry> entries_;
  absl::flat_hash_set<std::string> hubs_;
};

class KeyStore {
 public:
  KeyStore() = default;
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Snapshot returns the current table, or nullptr before the first Publish. Cheap: callers
  // take one per request and keep it for the request's duration.
  std::shared_ptr<const IdentityTable> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  // Publish makes `table` the current table. In-flight readers keep the table they hold.
  void Publish(std::shared_ptr<const IdentityTable> table) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const IdentityTable> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_
