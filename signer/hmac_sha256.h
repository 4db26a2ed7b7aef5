// hmac_sha256.h: HMAC-SHA256 (RFC 2104) with precomputed key state.
//
// HmacKey holds the SHA-256 midstates after the inner (key ^ ipad) and outer (key ^ opad) blocks,
// never the key itself. A MAC then costs ceil((len + 9) / 64) inner compressions plus one outer
// compression. Keys of any length work; keys over 64 bytes are hashed first (RFC 2104 §2).
// HmacKey is immutable after creation and thread-safe; it wipes its state when destroyed.
#ifndef SASMINT_SIGNER_HMAC_SHA256_H_
#define SASMINT_SIGNER_HMAC_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/types/span.h"
#include "signer/secret_bytes.h"
#include "signer/sha256.h"

namespace sasmint {

inline constexpr size_t kMacSize = 32;
using Mac = std::array<uint8_t, kMacSize>;

class HmacKey {
 public:
  // HmacKey() is the HMAC key of zero length (valid, but never a real IoT Hub key).
  HmacKey();
  // FromBytes precomputes the midstates of `key` (any length). Infallible.
  static HmacKey FromBytes(absl::Span<const uint8_t> key);
  static HmacKey FromSecret(const SecretBytes& key);
  // FromMidstates rebuilds a key from the midstates inner_state/outer_state returned (keys kept
  // sealed outside the process, such as the shared admin store's records).
  static HmacKey FromMidstates(SecretKeyAccess, const Sha256State& inner,
                               const Sha256State& outer) {
    return FromMidstates(inner, outer);
  }

  HmacKey(const HmacKey&) = default;
  HmacKey& operator=(const HmacKey&) = default;
  ~HmacKey();

  // Sign returns HMAC-SHA256(key, message), computed with the portable kernel.
  Mac Sign(absl::Span<const uint8_t> message) const;

  // Fingerprint returns 16 lowercase hex characters that identify the key without revealing it:
  // the first 8 bytes of HMAC-SHA256(key, "sasmint key fingerprint v1"). Safe to log and list.
  std::string Fingerprint() const;

  // inner_state / outer_state return the midstates after one block of key ^ ipad / key ^ opad.
  // They are key-equivalent secrets: only signing kernels read them.
  const Sha256State& inner_state(SecretKeyAccess) const { return inner_; }
  const Sha256State& outer_state(SecretKeyAccess) const { return outer_; }

 private:
  friend bool SameKey(const HmacKey* a, const HmacKey* b);
  friend class BatchSigner;  // PrepareKeys computes many keys' midstates in SIMD lanes
  struct NoInit {};
  explicit HmacKey(NoInit) {}
  static HmacKey FromMidstates(const Sha256State& inner, const Sha256State& outer) {
    HmacKey key(NoInit{});
    key.inner_ = inner;
    key.outer_ = outer;
    return key;
  }

  Sha256State inner_;
  Sha256State outer_;
};

// SameKey returns whether `a` and `b` are the same key (equal midstates); two nulls are the same,
// a null and a key are not. For key management (rotation, reload diffs), not for MACs.
bool SameKey(const HmacKey* a, const HmacKey* b);

// HmacFinishOuter returns the MAC from an inner digest, using `key`'s outer midstate: one
// compression over inner_digest || padding (96 bytes hashed in all).
Mac HmacFinishOuter(const HmacKey& key, const Sha256Digest& inner_digest);

}  // namespace sasmint

#endif  // SASMINT_SIGNER_HMAC_SHA256_H_
