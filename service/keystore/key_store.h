// key_store.h: the identities the service can mint for, and their keys as HMAC midstates.
//
// An IdentityTable maps identities (hub, device, module) to their keys and status, and holds the
// hubs served (with their settings), their shared access policies and the DPS enrollment groups.
// Identities are stored compactly (about 200 bytes each with both keys; see
// internal/identity_index.h). The KeyStore publishes one table at a time as a shared snapshot:
// readers take a std::shared_ptr<const IdentityTable> and use it without further locking while a
// writer swaps in a new table, so a reload never blocks or fails a reader. Key bytes are never
// stored: each key is kept as an HmacKey (midstates, wiped on destruction); fingerprints are
// derived from it. IdentityTable is immutable once built (thread-safe); KeyStore is thread-safe.
#ifndef SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_
#define SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/synchronization/mutex.h"
#include "signer/hmac_sha256.h"

namespace sasmint {
namespace internal {
class IdentityIndex;
}  // namespace internal

enum class IdentityStatus { kEnabled, kDisabled };

// KeySlot names a key of an identity, policy or group. kActive means the hub's active slot.
enum class KeySlot { kActive, kPrimary, kSecondary };

// Rights of a hub shared access policy (values as in the .NET service SDK's AccessRights).
enum Right : uint32_t {
  kRegistryRead = 1,
  kRegistryWrite = 2 | kRegistryRead,
  kServiceConnect = 4,
  kDeviceConnect = 8,
};

// StoredKey is one key slot: the precomputed HMAC state and a fingerprint safe to show.
struct StoredKey {
  HmacKey hmac;
  std::string fingerprint;  // HmacKey::Fingerprint()
};

// IdentityKeys is what the loader (or the admin API) gives the table for one identity. Keys
// are HMAC midstates; absent keys (X.509 identities) are nullopt.
struct IdentityKeys {
  IdentityStatus status = IdentityStatus::kEnabled;
  std::optional<HmacKey> primary;
  std::optional<HmacKey> secondary;
  std::string auth_type = "sas";   // "sas", "selfSigned", "certificateAuthority", "none"
  std::string primary_thumbprint;  // X.509 thumbprints as exported (kept for diagnosis)
  std::string secondary_thumbprint;
  uint16_t source_file = 0;  // IdentityTable::AddSourceFile
  uint32_t source_line = 0;
  uint32_t version = 1;
};

class IdentityTable;

// IdentityRef is a found identity: a view into the table (keep the snapshot alive while using
// it). Default-constructed (or not found) it is false.
class IdentityRef {
 public:
  IdentityRef() = default;
  explicit operator bool() const { return table_ != nullptr; }

  IdentityStatus status() const;
  // key returns the primary or secondary key, or nullptr if the identity has none in that slot.
  const HmacKey* key(KeySlot slot) const;
  bool has_keys() const;
  absl::string_view device_id() const;
  absl::string_view module_id() const;
  absl::string_view hub() const;
  // hash is the identity's StableHash: its lookup hash and its renew-after seed.
  uint64_t hash() const;
  absl::string_view auth_type() const;
  absl::string_view primary_thumbprint() const;
  absl::string_view secondary_thumbprint() const;
  uint32_t version() const;
  // source returns "file:line" where the identity was loaded from.
  std::string source() const;

 private:
  friend class IdentityTable;
  IdentityRef(const IdentityTable* table, uint32_t id) : table_(table), id_(id) {}
  const IdentityTable* table_ = nullptr;
  uint32_t id_ = 0;
};

// RetiredKey is a key an identity no longer holds (replaced by a reload or the admin API), kept
// for a configured time or count so that verification can say "signed with a retired key".
struct RetiredKey {
  StoredKey key;
  KeySlot slot = KeySlot::kPrimary;  // the slot it was retired from
  uint32_t version = 0;              // the identity's version while the key was current
  int64_t retired_at = 0;            // Unix seconds
};

// PolicyEntry is a hub shared access policy (token `skn`).
struct PolicyEntry {
  std::string name;
  uint32_t rights = 0;  // a combination of Right values
  std::optional<StoredKey> primary;
  std::optional<StoredKey> secondary;
  std::string source;
};

// HubSettings are per-hub choices from the configuration.
struct HubSettings {
  KeySlot active_slot = KeySlot::kPrimary;  // the slot KeySlot::kActive means
  // device_policy, if set, names a DeviceConnect policy that signs every device and module token
  // of the hub (the "token service" pattern): no per-device key is needed.
  std::string device_policy;
};

// DpsGroupEntry is a DPS symmetric-key enrollment group. Device keys are derived from its key:
// HMAC-SHA256(group key, registration ID).
struct DpsGroupEntry {
  std::string name;
  std::string registration_prefix;  // registration IDs this group covers ("" = all)
  std::optional<StoredKey> primary;
  std::optional<StoredKey> secondary;
  std::string source;
};

// StableHash returns a 64-bit hash of `text` that is the same in every process and build
// (absl::Hash is seeded per process): replicas derive the same renew-after point from it.
uint64_t StableHash(absl::string_view text);

// IdentityTable maps identities to entries. Build it with the Add* calls, then share it
// read-only.
class IdentityTable {
 public:
  // AddHub declares a served hub with its settings (hubs of identities are declared
  // implicitly with default settings). ALREADY_EXISTS if declared twice.
  absl::Status AddHub(absl::string_view hub, HubSettings settings);
  // AddPolicy adds a shared access policy to a declared hub; ALREADY_EXISTS for a repeated name,
  // NOT_FOUND if the hub is not declared.
  absl::Status AddPolicy(absl::string_view hub, PolicyEntry policy);
  // AddDpsGroup adds an enrollment group under an ID scope; ALREADY_EXISTS for a repeated name.
  absl::Status AddDpsGroup(absl::string_view id_scope, DpsGroupEntry group);

  IdentityTable();
  ~IdentityTable();
  IdentityTable(const IdentityTable&) = delete;
  IdentityTable& operator=(const IdentityTable&) = delete;

  // AddSourceFile registers a file name for IdentityKeys::source_file and returns its index.
  uint16_t AddSourceFile(absl::string_view name);
  // Add inserts the identity; ALREADY_EXISTS (with the earlier source) if it is present,
  // RESOURCE_EXHAUSTED beyond 255 hubs.
  absl::Status Add(absl::string_view hub, absl::string_view device_id, absl::string_view module_id,
                   const IdentityKeys& keys);
  // ReserveIdentities prepares room for about `n` more identities (a hint).
  void ReserveIdentities(size_t n);
  // Compact releases the spare capacity left by loading; call it once the table is built.
  void Compact();

  // Find returns the identity, or a false IdentityRef. module_id empty means the device.
  IdentityRef Find(absl::string_view hub, absl::string_view device_id,
                   absl::string_view module_id) const;
  // Find with `hash` = IdentityHash(hub, device_id, module_id), computed once by the caller.
  IdentityRef Find(absl::string_view hub, absl::string_view device_id, absl::string_view module_id,
                   uint64_t hash) const;
  // IdentityHash returns the lookup hash of an identity (also its renew-after seed).
  static uint64_t IdentityHash(absl::string_view hub, absl::string_view device_id,
                               absl::string_view module_id);
  // PrefetchIdentity starts loading the index slot of `hash`, so that a batch can overlap its
  // cache misses (prefetch item i + k, find item i).
  void PrefetchIdentity(uint64_t hash) const;

  // RetiredKeys returns the keys `identity` held before (newest first), or an empty span.
  absl::Span<const RetiredKey> RetiredKeys(const IdentityRef& identity) const;

  // ServesHub returns whether the hub is declared or has identities.
  bool ServesHub(absl::string_view hub) const { return hubs_.contains(hub); }
  // Settings returns the hub's settings, or nullptr if the hub is not served.
  const HubSettings* Settings(absl::string_view hub) const;
  // FindPolicy returns the named policy of `hub`, or nullptr.
  const PolicyEntry* FindPolicy(absl::string_view hub, absl::string_view name) const;
  // ServesIdScope returns whether any enrollment group is configured under `id_scope`.
  bool ServesIdScope(absl::string_view id_scope) const { return dps_.contains(id_scope); }
  // FindDpsGroup returns the group of `id_scope` with the longest registration_prefix that
  // prefixes `registration_id`, or nullptr.
  const DpsGroupEntry* FindDpsGroup(absl::string_view id_scope,
                                    absl::string_view registration_id) const;

  // size returns the number of device and module identities.
  size_t size() const;
  // IdentityMemoryBytes returns the bytes the identities occupy (records, names, indexes).
  size_t IdentityMemoryBytes() const;
  // ForEachIdentity calls fn(IdentityRef) for every identity, in no particular order.
  void ForEachIdentity(const std::function<void(const IdentityRef&)>& fn) const;
  size_t policy_count() const;
  size_t dps_group_count() const;

 private:
  struct HubData {
    bool declared = false;  // by AddHub (identities alone declare a hub implicitly)
    HubSettings settings;
    absl::flat_hash_map<std::string, PolicyEntry> policies;
  };

  friend class IdentityRef;
  struct Extra {
    std::string auth_type;
    std::string primary_thumbprint;
    std::string secondary_thumbprint;
  };
  // HubIndex returns the index of `hub` in hub_names_, or -1.
  int HubIndex(absl::string_view hub) const;

  std::unique_ptr<internal::IdentityIndex> identities_;
  absl::flat_hash_map<uint32_t, Extra> extras_;  // identities that are not plain SAS
  std::vector<std::string> hub_names_;           // Record::hub indexes this
  std::vector<std::string> source_files_;
  absl::flat_hash_map<std::string, HubData> hubs_;
  absl::flat_hash_map<std::string, std::vector<DpsGroupEntry>> dps_;
};

// TableDiff counts how the identities of one table differ from another's.
struct TableDiff {
  size_t added = 0;    // in `next` only
  size_t changed = 0;  // in both, with a different key, key slot or status
  size_t removed = 0;  // in `previous` only
};

// DiffTables compares the identities of two tables (keys compared as midstates).
TableDiff DiffTables(const IdentityTable& previous, const IdentityTable& next);

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
