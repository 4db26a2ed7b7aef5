// key_admin.h: the KeyAdmin API's core (no gRPC), and the one place that publishes key tables.
//
// KeyAdmin owns what the KeyStore serves: the table built from the files (the base) and the
// changes made through the admin API, kept as an overlay over the base (put identities and
// tombstones of deleted ones; IdentityTable::LayerOver). Every change builds a new table and
// publishes it: a reload builds a new base; PutKeys and DeleteKeys build a new overlay, a copy of
// the previous one plus the change, over the same base, so their cost follows the number of
// admin changes, not the size of the fleet.
//
// Admin changes versus files: with `authoritative` false (the default) the files win: each
// successful reload drops every admin change (logged with their count). With `authoritative`
// true, admin changes are re-applied over every reloaded base: a put identity keeps its admin
// keys and a deleted one stays deleted, whatever the files say, until the API changes it again.
//
// Rotation: when an identity's keys or status change (by a reload or a put), its version goes up
// by one and the keys it no longer holds in either slot become retired keys
// (IdentityTable::RetiredKeys), kept at most `retention.keep_count` per identity and
// `retention.keep_seconds` (pruned on every change and by PruneRetired). Deleting an identity
// (through the API, or by a reload whose files drop it) forgets it at once: its retired keys go
// with it, and verification then reports an unknown identity. Keys are wiped when the last
// snapshot holding them is released. Writes are logged (counts and identities, never keys).
// Thread-safe.
#ifndef SASMINT_SERVICE_ADMIN_KEY_ADMIN_H_
#define SASMINT_SERVICE_ADMIN_KEY_ADMIN_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "service/keystore/key_store.h"
#include "service/keystore/retired_keys.h"

namespace sasmint {

struct KeyAdminOptions {
  bool authoritative = false;  // admin changes survive reloads (see above)
  size_t max_entries_per_request = 10000;
  RetentionOptions retention;
};

// AdminIdentity names an identity (module_id empty: a device).
struct AdminIdentity {
  std::string hub;
  std::string device_id;
  std::string module_id;
};

// AdminKeyEntry is one identity to put: at least one key; keys as midstates.
struct AdminKeyEntry {
  AdminIdentity identity;
  IdentityStatus status = IdentityStatus::kEnabled;
  std::optional<HmacKey> primary;
  std::optional<HmacKey> secondary;
};

struct PutKeysResult {
  uint32_t added = 0;
  uint32_t changed = 0;    // keys or status differ from what was served
  uint32_t unchanged = 0;  // identical to what was served (still recorded as an admin change)
};

// KeyInfoData is what ListKeys tells about an identity: metadata, never keys.
struct KeyInfoData {
  AdminIdentity identity;
  IdentityStatus status = IdentityStatus::kEnabled;
  std::string primary_fingerprint;  // empty: no key in the slot
  std::string secondary_fingerprint;
  uint32_t version = 0;
  std::string source;  // "file:line" or "admin"
};

struct KeyPage {
  std::vector<KeyInfoData> keys;
  std::string next_page_token;  // empty: the last page
};

class KeyAdmin {
 public:
  static constexpr uint32_t kDefaultPageSize = 100;
  static constexpr uint32_t kMaxPageSize = 1000;

  // `store` and `clock` must outlive the KeyAdmin.
  KeyAdmin(KeyStore* store, const Clock* clock, KeyAdminOptions options);

  // Start publishes the first table (from the files); FAILED_PRECONDITION if one already is.
  absl::Status Start(std::shared_ptr<const IdentityTable> table) ABSL_LOCKS_EXCLUDED(mu_);

  // PublishFileTable makes `table` (just built from the files, not yet shared) the new base and
  // publishes it, with the admin changes re-applied if authoritative; it sets versions and
  // retired keys by comparing with the table served so far. Returns how the served identities
  // changed (a first table: all added).
  TableDiff PublishFileTable(std::shared_ptr<IdentityTable> table) ABSL_LOCKS_EXCLUDED(mu_);

  // PutKeys adds or replaces identities, all or none. UNAVAILABLE before Start;
  // INVALID_ARGUMENT for more than max_entries_per_request entries, an entry without a key, or
  // an identity repeated (naming "entries[i]"); NOT_FOUND naming the entry whose hub this server
  // does not serve (an admin typo must not create a hub).
  // `caller` (e.g. the gRPC peer) is logged.
  absl::StatusOr<PutKeysResult> PutKeys(std::vector<AdminKeyEntry> entries,
                                        absl::string_view caller = "") ABSL_LOCKS_EXCLUDED(mu_);

  // DeleteKeys deletes identities and returns how many existed (unknown identities and hubs are
  // not errors; they count as not deleted). UNAVAILABLE before Start; INVALID_ARGUMENT for more
  // than max_entries_per_request identities.
  absl::StatusOr<uint32_t> DeleteKeys(absl::Span<const AdminIdentity> identities,
                                      absl::string_view caller = "") ABSL_LOCKS_EXCLUDED(mu_);

  // ListKeys returns one page of a hub's identities in (device, module) order. page_size 0
  // means kDefaultPageSize; larger than kMaxPageSize is capped. The page token names the last
  // identity returned, so paging is stable across reloads and admin changes (identities added
  // behind the cursor are not seen; removed ones are not returned). UNAVAILABLE before Start;
  // INVALID_ARGUMENT for an empty hub or a malformed page token, or one from another hub;
  // NOT_FOUND for a hub this server does not serve.
  absl::StatusOr<KeyPage> ListKeys(absl::string_view hub, uint32_t page_size,
                                   absl::string_view page_token) const;

  // PruneRetired drops retired keys older than the retention and publishes the result; returns
  // how many keys it dropped (0: nothing published).
  size_t PruneRetired() ABSL_LOCKS_EXCLUDED(mu_);

  // StartPruning runs PruneRetired every `every` on a thread of its own until destruction.
  void StartPruning(absl::Duration every) ABSL_LOCKS_EXCLUDED(pruner_mu_);
  ~KeyAdmin();

  // admin_changes returns the number of entries (puts and deletes) in the current overlay.
  size_t admin_changes() const ABSL_LOCKS_EXCLUDED(mu_);
  const KeyAdminOptions& options() const { return options_; }

 private:
  // Publish makes `table` current (store and current_).
  void Publish(std::shared_ptr<const IdentityTable> table) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // NewOverlay returns a new overlay over base_ holding current_'s admin changes, but for the
  // identities in `skip` (IdentityName). Returns how many entries it could not carry (their hub
  // is no longer served) in *dropped.
  std::shared_ptr<IdentityTable> NewOverlay(const absl::flat_hash_set<std::string>& skip,
                                            size_t* dropped) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RetiredCopy returns a writable copy of current_'s retired keys.
  std::shared_ptr<RetiredKeyIndex> RetiredCopy() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KeyStore* const store_;
  const Clock* const clock_;
  const KeyAdminOptions options_;
  mutable absl::Mutex mu_;  // one change at a time
  std::shared_ptr<const IdentityTable> base_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const IdentityTable> current_ ABSL_GUARDED_BY(mu_);
  absl::Mutex pruner_mu_;
  bool stop_pruning_ ABSL_GUARDED_BY(pruner_mu_) = false;
  std::thread pruner_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_ADMIN_KEY_ADMIN_H_
