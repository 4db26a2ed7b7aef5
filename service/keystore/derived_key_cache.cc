#include "service/keystore/derived_key_cache.h"

#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

HmacKey Derive(absl::string_view registration_id, const HmacKey& group_key) {
  Mac derived = group_key.Sign(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(registration_id.data()), registration_id.size()));
  HmacKey key = HmacKey::FromBytes(derived);
  crypto::Cleanse(derived.data(), derived.size());
  return key;
}

}  // namespace

HmacKey DerivedKeyCache::GetOrDerive(absl::string_view group_fingerprint,
                                     absl::string_view registration_id, const HmacKey& group_key) {
  if (capacity_ == 0) return Derive(registration_id, group_key);
  // '\n' cannot occur in a fingerprint (hex) or a registration ID.
  std::string cache_key = absl::StrCat(group_fingerprint, "\n", registration_id);
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(cache_key);
    if (it != index_.end()) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
    ++misses_;
  }
  // Derived outside the lock: concurrent misses for one ID derive twice, harmlessly.
  HmacKey key = Derive(registration_id, group_key);
  absl::MutexLock lock(&mu_);
  if (index_.contains(cache_key)) return key;
  lru_.emplace_front(cache_key, key);
  index_.emplace(std::move(cache_key), lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();  // ~HmacKey wipes the midstates
  }
  return key;
}

size_t DerivedKeyCache::size() const {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

uint64_t DerivedKeyCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

uint64_t DerivedKeyCache::misses() const {
  absl::MutexLock lock(&mu_);
  return misses_;
}

}  // namespace sasmint
