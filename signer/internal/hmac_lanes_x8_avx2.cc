// AVX2 HMAC group (8 lanes) around Sha256CompressX8Avx2: midstates in and MACs out by
// in-register 8x4 transposes with 256-bit stores the kernel's loads are forwarded from
// (hmac_lanes.h). Compiled with the AVX2 kernel's flags (its object library); call only when
// IsaSupported(Isa::kAvx2). Includes nothing with a static initializer.
#include "signer/internal/hmac_lanes.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "common/macros.h"
#include "signer/internal/hmac_lanes_inl.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {
namespace {

SASMINT_ALWAYS_INLINE __m128i Load128(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

// Transpose4x4InLanes transposes, within each 128-bit half q, the 4x4 word matrix whose row i
// is half q of x[i]. Its own inverse.
SASMINT_ALWAYS_INLINE void Transpose4x4InLanes(__m256i (&x)[4]) {
  const __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(x[0], x[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(x[2], x[3]);
  x[0] = _mm256_unpacklo_epi64(t0, t2);
  x[1] = _mm256_unpackhi_epi64(t0, t2);
  x[2] = _mm256_unpacklo_epi64(t1, t3);
  x[3] = _mm256_unpackhi_epi64(t1, t3);
}

// StoreStates stores the 8-word states at p[0..7] as 8 SoA rows at soa (word 4k+m of lane
// 4q+i ends in element 4q+i of row 4k+m).
SASMINT_ALWAYS_INLINE void StoreStates(const uint32_t* const* p, uint32_t* soa) {
  for (int k = 0; k < 2; ++k) {
    __m256i x[4];
    for (int i = 0; i < 4; ++i) {
      x[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(Load128(p[i] + 4 * k)),
                                     Load128(p[i + 4] + 4 * k), 1);
    }
    Transpose4x4InLanes(x);
    for (int m = 0; m < 4; ++m) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(soa + 8 * (4 * k + m)), x[m]);
    }
  }
}

// StoreMacs writes the 8 SoA rows at soa as 32 big-endian bytes per lane at mac[lane].
SASMINT_ALWAYS_INLINE void StoreMacs(const uint32_t* soa, uint8_t* const* mac) {
  const __m256i bswap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2,
                                         1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  for (int k = 0; k < 2; ++k) {
    __m256i x[4];
    for (int m = 0; m < 4; ++m) {
      x[m] = _mm256_load_si256(reinterpret_cast<const __m256i*>(soa + 8 * (4 * k + m)));
    }
    Transpose4x4InLanes(x);
    for (int i = 0; i < 4; ++i) {
      const __m256i v = _mm256_shuffle_epi8(x[i], bswap);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mac[i] + 16 * k), _mm256_castsi256_si128(v));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mac[i + 4] + 16 * k),
                       _mm256_extracti128_si256(v, 1));
    }
  }
}

}  // namespace

void HmacLanesX8Avx2(const HmacLaneGroup& g, size_t num_blocks) {
  alignas(64) uint32_t words[16 * 8];
  alignas(64) uint32_t outer[8 * 8];
  alignas(64) uint8_t blocks[8][2 * 64];
  const uint8_t* ptrs[8];
  const size_t offset = HmacTailOffset(num_blocks);
  const size_t tail_blocks = HmacTailBlocks(num_blocks);
  for (int l = 0; l < 8; ++l) {
    WritePaddedBlocks(blocks[l], g.tail[l], g.length[l] - offset, tail_blocks, g.length[l]);
    ptrs[l] = blocks[l];
  }
  StoreStates(g.inner, words);
  StoreStates(g.outer, outer);
  // An opaque zero: with a constant one GCC turns these stores (and the wipe below) into
  // `rep stosq`, whose start-up costs more than the stores.
  __m256i zero = _mm256_setzero_si256();
  __asm__("" : "+x"(zero));
  auto* rows = reinterpret_cast<__m256i*>(words + 8 * 8);
  _mm256_store_si256(rows, _mm256_set1_epi32(static_cast<int>(kOuterPaddingWord8)));
  for (int w = 1; w < 7; ++w) _mm256_store_si256(rows + w, zero);
  _mm256_store_si256(rows + 7, _mm256_set1_epi32(static_cast<int>(kOuterBitLength)));
  if (offset > 0) Sha256CompressX8Avx2(words, g.head, num_blocks - tail_blocks);
  Sha256CompressX8Avx2(words, ptrs, tail_blocks);
  Sha256CompressWordsX8Avx2(outer, words);
  StoreMacs(outer, g.mac);
  // Key-derived state: the inner midstates and digests (rows 0..7) and the outer state.
  for (int w = 0; w < 8; ++w) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(words + 8 * w), zero);
    _mm256_store_si256(reinterpret_cast<__m256i*>(outer + 8 * w), zero);
  }
  KeepStores(words);
  KeepStores(outer);
  _mm256_zeroupper();  // SHA-NI code may run next (sha256_kernel.h).
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-in.

namespace sasmint::internal {
void HmacLanesX8Avx2(const HmacLaneGroup& g, size_t n) {
  // Eight lanes of the one-lane portable function.
  for (int l = 0; l < 8; ++l) {
    HmacLaneGroup one{};
    one.inner[0] = g.inner[l];
    one.outer[0] = g.outer[l];
    one.head[0] = g.head[l];
    one.tail[0] = g.tail[l];
    one.length[0] = g.length[l];
    one.mac[0] = g.mac[l];
    HmacLanesPortableX1(one, n);
  }
}
}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
