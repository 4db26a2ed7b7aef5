// retired_keys.h: the keys identities held before (rotation history), by identity.
//
// When a reload or the KeyAdmin API replaces an identity's key, the replaced key is kept for a
// while as a RetiredKey, so that verification can say "signed with a retired key" instead of
// "signature mismatch". RetiredKeyIndex maps an identity ("{hub}/devices/{id}[/modules/{id}]")
// to its retired keys, newest first. Every published table holds one; consecutive tables share
// it copy-on-write by shard, so a change to a few identities copies a few small shards, never
// the history of a whole fleet. Key state lives in the key heap (locked, not dumped) and is
// wiped when a key is pruned or its identity deleted. Thread-compatible: built by one thread,
// then shared read-only.
#ifndef SASMINT_SERVICE_KEYSTORE_RETIRED_KEYS_H_
#define SASMINT_SERVICE_KEYSTORE_RETIRED_KEYS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"
#include "service/keystore/secure_memory.h"

namespace sasmint {

using RetiredKeyList = std::vector<RetiredKey, SecureAllocator<RetiredKey>>;

// NewRetiredKeyList returns an empty list allocated from the key heap.
RetiredKeyList NewRetiredKeyList();

// RetentionOptions bound how long and how many retired keys are kept (either 0: none).
struct RetentionOptions {
  int64_t keep_seconds = 7 * 86400;
  uint32_t keep_count = 2;  // per identity
};

// ApplyRetention drops from `keys` (newest first) those retired before now - keep_seconds and
// those beyond keep_count; returns how many it dropped.
size_t ApplyRetention(RetiredKeyList& keys, const RetentionOptions& retention, int64_t now);

// IdentityName returns "{hub}/devices/{device}[/modules/{module}]", the resource an identity's
// tokens name; SplitIdentityName reverses it (IDs never contain '/'); false if malformed.
std::string IdentityName(absl::string_view hub, absl::string_view device_id,
                         absl::string_view module_id);
bool SplitIdentityName(absl::string_view name, absl::string_view* hub, absl::string_view* device_id,
                       absl::string_view* module_id);

class RetiredKeyIndex {
 public:
  RetiredKeyIndex();
  // The copy shares every shard with `other`; the first change to a shard copies that shard.
  RetiredKeyIndex(const RetiredKeyIndex& other);
  RetiredKeyIndex& operator=(const RetiredKeyIndex&) = delete;
  ~RetiredKeyIndex();

  // Find returns the retired keys of the identity named `name` (IdentityName), or nullptr.
  const RetiredKeyList* Find(absl::string_view name) const;
  // Set replaces the identity's list; an empty list erases it.
  void Set(absl::string_view name, RetiredKeyList keys);
  void Erase(absl::string_view name) { Set(name, NewRetiredKeyList()); }

  // Prune drops keys retired before now - retention.keep_seconds; returns how many. Cheap when
  // nothing has expired; otherwise it copies only the shards it changes.
  size_t Prune(const RetentionOptions& retention, int64_t now);

  // ForEach calls fn(name, keys) for every identity with retired keys.
  void ForEach(const std::function<void(absl::string_view, const RetiredKeyList&)>& fn) const;

  size_t identities() const { return identities_; }
  size_t keys() const { return keys_; }

 private:
  static constexpr int kShardBits = 10;
  using Shard = absl::flat_hash_map<std::string, RetiredKeyList>;
  // Mutable returns shard `s` for writing, copying it first unless this index made it.
  Shard& Mutable(size_t s);

  // Shards are shared with other indexes (so never written) unless owned_ says this index made
  // them. nullptr: empty.
  std::vector<std::shared_ptr<Shard>> shards_;
  std::vector<bool> owned_;
  size_t identities_ = 0;
  size_t keys_ = 0;
  int64_t oldest_ = INT64_MAX;  // at most the oldest retired_at held (exact after Prune)
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_RETIRED_KEYS_H_
