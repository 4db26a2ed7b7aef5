#include "signer/hmac_sha256.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

constexpr uint8_t kIpad = 0x36;
constexpr uint8_t kOpad = 0x5c;

// PadState returns the chaining value after compressing one block of (key0 ^ pad).
Sha256State PadState(const uint8_t key0[kSha256BlockSize], uint8_t pad) {
  uint8_t block[kSha256BlockSize];
  for (size_t i = 0; i < kSha256BlockSize; ++i) block[i] = key0[i] ^ pad;
  Sha256State state = kSha256InitialState;
  Sha256CompressBlocks(state, block, 1);
  crypto::Cleanse(block, sizeof(block));
  return state;
}

}  // namespace

HmacKey::HmacKey() : HmacKey(FromBytes({})) {}

HmacKey HmacKey::FromBytes(absl::Span<const uint8_t> key) {
  // RFC 2104 §2: K0 is the key zero-padded to B bytes, or H(key) zero-padded if longer than B.
  uint8_t key0[kSha256BlockSize] = {};
  if (key.size() > kSha256BlockSize) {
    Sha256Digest hashed = Sha256::Hash(key);
    std::memcpy(key0, hashed.data(), hashed.size());
    crypto::Cleanse(hashed.data(), hashed.size());
  } else if (!key.empty()) {
    std::memcpy(key0, key.data(), key.size());
  }
  HmacKey out(NoInit{});
  out.inner_ = PadState(key0, kIpad);
  out.outer_ = PadState(key0, kOpad);
  crypto::Cleanse(key0, sizeof(key0));
  return out;
}

HmacKey HmacKey::FromSecret(const SecretBytes& key) {
  return FromBytes(key.Reveal(SecretKeyAccess::Get()));
}

HmacKey::~HmacKey() {
  crypto::Cleanse(inner_.data(), sizeof(inner_));
  crypto::Cleanse(outer_.data(), sizeof(outer_));
}

Mac HmacKey::Sign(absl::Span<const uint8_t> message) const {
  Sha256 inner(inner_, kSha256BlockSize);
  inner.Update(message);
  return HmacFinishOuter(*this, inner.Final());
}

bool SameKey(const HmacKey* a, const HmacKey* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a->inner_ == b->inner_ && a->outer_ == b->outer_;
}

std::string HmacKey::Fingerprint() const {
  static constexpr absl::string_view kLabel = "sasmint key fingerprint v1";
  const Mac mac =
      Sign(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kLabel.data()), kLabel.size()));
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(mac.data()), 8));
}

Mac HmacFinishOuter(const HmacKey& key, const Sha256Digest& inner_digest) {
  // The outer message is always 32 bytes, so after the 64-byte opad block the final block is
  // digest || 0x80 || zeros || bit length of 96 bytes (768 = 0x300).
  uint8_t block[kSha256BlockSize] = {};
  std::memcpy(block, inner_digest.data(), inner_digest.size());
  block[32] = 0x80;
  block[62] = 0x03;
  block[63] = 0x00;
  Sha256State state = key.outer_state(SecretKeyAccess::Get());
  Sha256CompressBlocks(state, block, 1);
  return Sha256StateToDigest(state);
}

}  // namespace sasmint
