// hash_mixing.h: the two mixing steps StableHash and IdentityHash are built from (internal).
#ifndef SASMINT_SERVICE_KEYSTORE_INTERNAL_HASH_MIXING_H_
#define SASMINT_SERVICE_KEYSTORE_INTERNAL_HASH_MIXING_H_

#include <cstdint>

namespace sasmint::internal {

// Mum folds the 128-bit product of a and b to 64 bits: one multiply mixes 16 input bytes (the
// wyhash construction).
inline uint64_t Mum(uint64_t a, uint64_t b) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

// Mix is the splitmix64 finalizer: every output bit depends on every input bit.
inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_KEYSTORE_INTERNAL_HASH_MIXING_H_
