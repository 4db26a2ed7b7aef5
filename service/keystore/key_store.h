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
//
// Layered tables (the KeyAdmin API): LayerOver(base) makes a table whose own identities (Add)
// shadow the base's and whose tombstones (Hide) hide them, so that a change to a few identities
// of a 10M fleet builds a small overlay instead of a new table. Find looks in the overlay, then in
// the base; size, ForEachIdentity, ListIdentities and DiffTables see the combined view; hubs,
// policies and DPS groups are the base's. A table without a base ("plain") finds as fast as ever.
#ifndef SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_
#define SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "service/keystore/internal/reader_epochs.h"
#include "service/keystore/rights.h"
#include "signer/hmac_sha256.h"

namespace sasmint {
namespace internal {
class IdentityIndex;
}  // namespace internal
class RetiredKeyIndex;

enum class IdentityStatus { kEnabled, kDisabled };

// KeySlot names a key of an identity, policy or group. kActive means the hub's active slot.
enum class KeySlot { kActive, kPrimary, kSecondary };

// KeySlotName returns "primary" or "secondary" (kActive: "active").
absl::string_view KeySlotName(KeySlot slot);

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
  // version starts at 1 and goes up by one each time the identity's keys or status change.
  uint32_t version() const;
  // source returns "file:line" where the identity was loaded from, or "admin" (KeyAdmin API).
  std::string source() const;

 private:
  friend class IdentityTable;
  // `position` is where Find saw the identity's hot entry (kNoPosition when unknown): reading
  // flags, hub and names there costs no further cache miss.
  IdentityRef(const IdentityTable* table, uint32_t id, uint32_t position)
      : table_(table), id_(id), position_(position) {}
  const IdentityTable* table_ = nullptr;
  uint32_t id_ = 0;
  uint32_t position_ = 0;
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
  // `hash`, if given, is IdentityHash of the names (a loader that prefetched with it).
  absl::Status Add(absl::string_view hub, absl::string_view device_id, absl::string_view module_id,
                   const IdentityKeys& keys, std::optional<uint64_t> hash = std::nullopt);
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
  // PrefetchIdentity starts loading what Find(hash) reads, and PrefetchKeys the keys of a found
  // identity, so that a batch can overlap its cache misses (prefetch item i + 2k, find item
  // i + k and prefetch its keys, mint item i).
  void PrefetchIdentity(uint64_t hash) const;
  static void PrefetchKeys(const IdentityRef& identity);

  // RetiredKeys returns the keys `identity` held before (newest first), or an empty span.
  absl::Span<const RetiredKey> RetiredKeys(const IdentityRef& identity) const;
  // SetRetiredKeys attaches the rotation history (retired_keys.h); only before sharing the table.
  void SetRetiredKeys(std::shared_ptr<const RetiredKeyIndex> retired);
  // retired_keys returns the history attached, or nullptr.
  const std::shared_ptr<const RetiredKeyIndex>& retired_keys() const { return retired_; }
  // SetVersion sets the version of one of this table's own identities (a ref Find or
  // ForEachOwnEntry returned from this table); only before sharing the table.
  void SetVersion(const IdentityRef& identity, uint32_t version);

  // LayerOver returns an empty table over `base`, which must be plain (not itself layered).
  static std::shared_ptr<IdentityTable> LayerOver(std::shared_ptr<const IdentityTable> base);
  // base returns the table this one is layered over, or nullptr for a plain table.
  const std::shared_ptr<const IdentityTable>& base() const { return base_; }
  // Hide adds a tombstone: the identity is deleted whether or not the base has it. Layered
  // tables only (FAILED_PRECONDITION otherwise); NOT_FOUND for a hub the base does not serve,
  // ALREADY_EXISTS if this table already has the identity.
  absl::Status Hide(absl::string_view hub, absl::string_view device_id,
                    absl::string_view module_id);
  // ForEachOwnEntry calls fn(ref, hidden) for each identity this table itself holds (in a
  // layered table: the overlay's puts, and its tombstones with hidden = true and no keys).
  void ForEachOwnEntry(const std::function<void(const IdentityRef&, bool hidden)>& fn) const;
  // Shadows returns whether this table's own entries (puts or tombstones) hold the identity.
  bool Shadows(absl::string_view hub, absl::string_view device_id, absl::string_view module_id,
               uint64_t hash) const;
  // own_entries returns how many entries ForEachOwnEntry visits.
  size_t own_entries() const;

  // ListIdentities calls fn for up to `limit` identities of `hub` in (device_id, module_id)
  // byte order, starting after (after_device, after_module) (after_device empty: from the
  // first); returns whether more follow. The first call per hub sorts the hub's identities
  // once for this table (4 bytes each; an overlay reuses its base's order).
  bool ListIdentities(absl::string_view hub, absl::string_view after_device,
                      absl::string_view after_module, size_t limit,
                      const std::function<void(const IdentityRef&)>& fn) const;

  // ServesHub returns whether the hub is declared or has identities.
  bool ServesHub(absl::string_view hub) const { return meta_->hubs_.contains(hub); }
  // Settings returns the hub's settings, or nullptr if the hub is not served.
  const HubSettings* Settings(absl::string_view hub) const;
  // FindPolicy returns the named policy of `hub`, or nullptr.
  const PolicyEntry* FindPolicy(absl::string_view hub, absl::string_view name) const;
  // ServesIdScope returns whether any enrollment group is configured under `id_scope`.
  bool ServesIdScope(absl::string_view id_scope) const { return meta_->dps_.contains(id_scope); }
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
  // RefAt makes the ref of the identity in `position` of `table`; RefOf that of identity `id`.
  static IdentityRef RefAt(const IdentityTable* table, uint32_t position);
  static IdentityRef RefOf(const IdentityTable* table, uint32_t id);
  // FindLayered finishes Find in a layered table (`position`: the overlay's answer).
  IdentityRef FindLayered(int64_t position, uint8_t hub_index, absl::string_view device_id,
                          absl::string_view module_id, uint64_t hash) const;
  // SortedIds returns this table's own visible identities of a hub, sorted by names (cached).
  std::shared_ptr<const std::vector<uint32_t>> SortedIds(uint8_t hub_index) const;

  std::unique_ptr<internal::IdentityIndex> identities_;
  // Layering: the base, and how the overlay changes the base's count. meta_ is the table whose
  // hubs, policies and DPS groups this one serves (itself, or the base).
  std::shared_ptr<const IdentityTable> base_;
  const IdentityTable* meta_ = this;
  size_t overlay_live_ = 0;      // own identities that are not tombstones
  size_t overlay_shadowed_ = 0;  // base identities the overlay replaces or hides
  std::shared_ptr<const RetiredKeyIndex> retired_;
  mutable absl::Mutex sorted_mu_;
  mutable absl::flat_hash_map<uint8_t, std::shared_ptr<const std::vector<uint32_t>>> sorted_
      ABSL_GUARDED_BY(sorted_mu_);
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

  // Snapshot returns the current table, or nullptr before the first Publish. For work that
  // outlives the call (a batch on the work pool, a stream's batch): keep it for the duration.
  std::shared_ptr<const IdentityTable> Snapshot() const;

  // Pin is the fast way to read the current table for synchronous work (a unary mint, a batch
  // slice, a verification): no lock and no shared reference count, so concurrent readers touch
  // no common cache line. The table stays valid until the Pin is destroyed; Publish waits for
  // pins of the table it replaces (writers wait, readers never do), so keep pins short and never
  // block while holding one. Pins nest. Not movable: a stack object of the reading thread.
  class Pin {
   public:
    explicit Pin(const KeyStore& store);
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    // table returns the pinned table, or nullptr before the first Publish.
    const IdentityTable* table() const { return table_; }

   private:
    internal::ReaderSection section_;
    std::shared_ptr<const IdentityTable> fallback_;  // only past ReaderSection::kMaxReaders
    const IdentityTable* table_;
  };

  // Publish makes `table` the current table. Holders of a Snapshot keep the table they hold;
  // Publish returns once no Pin reads the previous table. One writer at a time.
  void Publish(std::shared_ptr<const IdentityTable> table);

  // generation returns how many tables have been published (0 before the first).
  uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }

 private:
  // std::mutex rather than absl::Mutex: Debian's Abseil is not built for ThreadSanitizer,
  // which then reports false races on everything absl::Mutex protects.
  mutable std::mutex mu_;
  std::mutex publish_mu_;                               // one Publish at a time
  std::shared_ptr<const IdentityTable> table_;          // guarded by mu_
  std::atomic<const IdentityTable*> current_{nullptr};  // table_.get(), for pins
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_KEY_STORE_H_
