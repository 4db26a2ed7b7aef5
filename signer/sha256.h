// sha256.h: SHA-256 (FIPS 180-4) in portable C++, with access to the chaining state.
//
// The portable compression function here is the reference that every SIMD kernel is tested
// against. Sha256 can start from a midstate (a chaining value after a whole number of blocks),
// which is how HmacKey precomputes its inner and outer pads. Sha256 objects are
// thread-compatible; the free functions are thread-safe.
#ifndef SASMINT_SIGNER_SHA256_H_
#define SASMINT_SIGNER_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace sasmint {

inline constexpr size_t kSha256BlockSize = 64;
inline constexpr size_t kSha256DigestSize = 32;

using Sha256Digest = std::array<uint8_t, kSha256DigestSize>;

// Sha256State is the 8-word chaining value (H0..H7 of FIPS 180-4 §6.2).
using Sha256State = std::array<uint32_t, 8>;

// kSha256InitialState is H(0) from FIPS 180-4 §5.3.3.
inline constexpr Sha256State kSha256InitialState = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Sha256CompressBlocks applies the compression function to `num_blocks` 64-byte blocks at
// `blocks`, updating `state` in place. Portable scalar code.
void Sha256CompressBlocks(Sha256State& state, const uint8_t* blocks, size_t num_blocks);

// Sha256StateToDigest returns the big-endian serialization of `state`.
Sha256Digest Sha256StateToDigest(const Sha256State& state);

class Sha256 {
 public:
  // Sha256() starts a new hash at the initial state.
  Sha256() = default;
  // Sha256(midstate, bytes_before) resumes from `midstate`, the chaining value after
  // `bytes_before` bytes (a multiple of 64) were hashed.
  Sha256(const Sha256State& midstate, uint64_t bytes_before);
  ~Sha256();

  Sha256(const Sha256&) = default;
  Sha256& operator=(const Sha256&) = default;

  // Update hashes `data`.
  void Update(absl::Span<const uint8_t> data);
  // Final pads, returns the digest and leaves the object in an unspecified state.
  Sha256Digest Final();

  // Hash returns SHA-256(data).
  static Sha256Digest Hash(absl::Span<const uint8_t> data);

 private:
  Sha256State state_ = kSha256InitialState;
  uint64_t total_bytes_ = 0;
  std::array<uint8_t, kSha256BlockSize> buffer_{};
  size_t buffered_ = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SIGNER_SHA256_H_
