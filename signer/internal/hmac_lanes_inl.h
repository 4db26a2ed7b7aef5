// hmac_lanes_inl.h: the message padding shared by the group functions (internal),
// included only by hmac_lanes*.cc. In an anonymous namespace on purpose, like
// sha256_lanes_inl.h: each ISA file compiles its own copy with its own flags, and the linker
// must never merge them.
#ifndef SASMINT_SIGNER_INTERNAL_HMAC_LANES_INL_H_
#define SASMINT_SIGNER_INTERNAL_HMAC_LANES_INL_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSSE3__)
#include <immintrin.h>
#endif

#include "common/macros.h"

namespace sasmint::internal {
namespace {  // NOLINT(build/namespaces): see the header comment.

#if defined(__SSSE3__)

// PaddedChunk returns bytes start..start+15 of the padded message: message bytes, then 0x80,
// then zeros (the bit length is the caller's). Every load stays inside the message: the tail
// under 16 bytes is the last 16 message bytes shifted down by pshufb.
SASMINT_ALWAYS_INLINE __m128i PaddedChunk(const uint8_t* message, size_t len, size_t start) {
  if (start + 16 <= len) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(message + start));
  if (start > len) return _mm_setzero_si128();
  const int r = static_cast<int>(len - start);  // message bytes in this chunk, 0..15
  const __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m128i pad = _mm_and_si128(_mm_cmpeq_epi8(iota, _mm_set1_epi8(static_cast<char>(r))),
                                    _mm_set1_epi8(static_cast<char>(0x80)));
  if (r == 0) return pad;
  __m128i tail;
  if (len >= 16) {
    // Byte i < r takes byte 16 - r + i of the last 16; bytes i >= r get an index with the top
    // bit set, which pshufb turns into zero.
    const __m128i shuffle =
        _mm_or_si128(_mm_add_epi8(iota, _mm_set1_epi8(static_cast<char>(16 - r))),
                     _mm_cmpgt_epi8(iota, _mm_set1_epi8(static_cast<char>(r - 1))));
    tail = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(message + len - 16)),
                            shuffle);
  } else {  // the whole message is shorter than 16 bytes
    alignas(16) uint8_t bytes[16] = {};
    std::memcpy(bytes, message, len);
    tail = _mm_load_si128(reinterpret_cast<const __m128i*>(bytes));
  }
  return _mm_or_si128(tail, pad);
}

// WritePaddedBlocks writes the last `len` bytes at `message` of a message of `total` bytes
// (which follows the 64-byte ipad block) and its SHA-256 padding (FIPS 180-4 §5.1.1: 0x80,
// zeros, the bit length big-endian) as `num_blocks` 64-byte blocks at `dst`, each 16 bytes
// assembled in a register and stored once:
// the kernel's 16-byte loads that follow are then forwarded from single stores instead of
// waiting for a memcpy's, a memset's and the padding's stores to commit.
SASMINT_ALWAYS_INLINE void WritePaddedBlocks(uint8_t* dst, const uint8_t* message, size_t len,
                                             size_t num_blocks, size_t total) {
  const size_t chunks = 4 * num_blocks;
  for (size_t j = 0; j + 1 < chunks; ++j) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16 * j), PaddedChunk(message, len, 16 * j));
  }
  const uint64_t bits = __builtin_bswap64((64 + uint64_t{total}) * 8);
  const __m128i last = _mm_or_si128(PaddedChunk(message, len, 16 * (chunks - 1)),
                                    _mm_set_epi64x(static_cast<long long>(bits), 0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16 * (chunks - 1)), last);
}

#else  // no SSSE3 (the portable file): plain copies

// WritePaddedBlocks writes the last `len` bytes at `message` of a message of `total` bytes
// (which follows the 64-byte ipad block) and its SHA-256 padding (FIPS 180-4 §5.1.1: 0x80,
// zeros, the bit length big-endian) as `num_blocks` 64-byte blocks at `dst`. The blocks the
// message does not fill are zeroed whole first, with fixed-size stores: a variable-length
// memset costs more than the copy.
SASMINT_ALWAYS_INLINE void WritePaddedBlocks(uint8_t* dst, const uint8_t* message, size_t len,
                                             size_t num_blocks, size_t total) {
  for (size_t b = len / 64; b < num_blocks; ++b) std::memset(dst + 64 * b, 0, 64);
  if (len > 0) std::memcpy(dst, message, len);
  dst[len] = 0x80;
  const uint64_t bits = __builtin_bswap64((64 + uint64_t{total}) * 8);
  std::memcpy(dst + 64 * num_blocks - 8, &bits, 8);
}

#endif  // defined(__SSSE3__)

}  // namespace
}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_HMAC_LANES_INL_H_
