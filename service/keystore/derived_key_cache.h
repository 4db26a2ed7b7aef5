// derived_key_cache.h: DPS group-enrollment device keys, derived on first use and kept.
//
// A device key is HMAC-SHA256(group key, registration ID); deriving it and preparing its
// midstates costs four compressions, a cache hit one hash-map lookup. Entries are keyed by the
// group key's fingerprint (so a rotated group key never serves a stale device key) and the
// registration ID, hold midstates only (wiped on eviction), and the least recently used entry
// goes first once `capacity` is reached. Thread-safe.
#ifndef SASMINT_SERVICE_KEYSTORE_DERIVED_KEY_CACHE_H_
#define SASMINT_SERVICE_KEYSTORE_DERIVED_KEY_CACHE_H_

#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "signer/hmac_sha256.h"

namespace sasmint {

class DerivedKeyCache {
 public:
  // capacity 0 disables caching (every call derives).
  explicit DerivedKeyCache(size_t capacity) : capacity_(capacity) {}
  DerivedKeyCache(const DerivedKeyCache&) = delete;
  DerivedKeyCache& operator=(const DerivedKeyCache&) = delete;

  // GetOrDerive returns the device key of `registration_id` under the group key `group_key`
  // (whose Fingerprint() is `group_fingerprint`).
  HmacKey GetOrDerive(absl::string_view group_fingerprint, absl::string_view registration_id,
                      const HmacKey& group_key) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t hits() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t misses() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Entry = std::pair<std::string, HmacKey>;  // cache key, device key

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEYSTORE_DERIVED_KEY_CACHE_H_
