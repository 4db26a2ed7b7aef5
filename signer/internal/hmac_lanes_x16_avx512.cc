// AVX-512 HMAC group (16 lanes) around Sha256CompressX16Avx512: midstates in and MACs out by
// in-register 16x4 transposes, so the kernel's 512-bit loads of the state are forwarded from
// 512-bit stores (hmac_lanes.h); messages padded with masked loads. Compiled with the AVX-512
// kernel's flags (its object library); call only when IsaSupported(Isa::kAvx512). Includes nothing
// with a static initializer.
#include "signer/internal/hmac_lanes.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 intrinsics trip -Wmaybe-uninitialized (GCC PR 105593): see
// sha256_x16_avx512.cc.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>

#include "common/macros.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {
namespace {

SASMINT_ALWAYS_INLINE __m128i Load128(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}

// Transpose4x4InLanes transposes, within each 128-bit lane q, the 4x4 word matrix whose row i
// is lane q of x[i]. Its own inverse.
SASMINT_ALWAYS_INLINE void Transpose4x4InLanes(__m512i (&x)[4]) {
  const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(x[0], x[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(x[2], x[3]);
  x[0] = _mm512_unpacklo_epi64(t0, t2);
  x[1] = _mm512_unpackhi_epi64(t0, t2);
  x[2] = _mm512_unpacklo_epi64(t1, t3);
  x[3] = _mm512_unpackhi_epi64(t1, t3);
}

// StoreStates stores the 8-word states at p[0..15] as 8 SoA rows at soa (row w: word w of
// every lane). Words 4k..4k+3 of lanes i, i+4, i+8, i+12 share a register before the
// transpose, which leaves word 4k+m of lane 4q+i in element 4q+i.
SASMINT_ALWAYS_INLINE void StoreStates(const uint32_t* const* p, uint32_t* soa) {
  for (int k = 0; k < 2; ++k) {
    __m512i x[4];
    for (int i = 0; i < 4; ++i) {
      __m512i v = _mm512_castsi128_si512(Load128(p[i] + 4 * k));
      v = _mm512_inserti32x4(v, Load128(p[i + 4] + 4 * k), 1);
      v = _mm512_inserti32x4(v, Load128(p[i + 8] + 4 * k), 2);
      x[i] = _mm512_inserti32x4(v, Load128(p[i + 12] + 4 * k), 3);
    }
    Transpose4x4InLanes(x);
    for (int m = 0; m < 4; ++m) _mm512_store_si512(soa + 16 * (4 * k + m), x[m]);
  }
}

// StoreMacs writes the 8 SoA rows at soa as 32 big-endian bytes per lane at mac[lane].
SASMINT_ALWAYS_INLINE void StoreMacs(const uint32_t* soa, uint8_t* const* mac) {
  const __m512i bswap =
      _mm512_broadcast_i32x4(_mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12));
  for (int k = 0; k < 2; ++k) {
    __m512i x[4];
    for (int m = 0; m < 4; ++m) x[m] = _mm512_load_si512(soa + 16 * (4 * k + m));
    Transpose4x4InLanes(x);
    for (int i = 0; i < 4; ++i) {
      const __m512i v = _mm512_shuffle_epi8(x[i], bswap);
      __m128i* out = reinterpret_cast<__m128i*>(mac[i] + 16 * k);
      _mm_storeu_si128(out, _mm512_castsi512_si128(v));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mac[i + 4] + 16 * k),
                       _mm512_extracti32x4_epi32(v, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mac[i + 8] + 16 * k),
                       _mm512_extracti32x4_epi32(v, 2));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mac[i + 12] + 16 * k),
                       _mm512_extracti32x4_epi32(v, 3));
    }
  }
}

// WritePaddedBlocks writes the last `len` bytes at `message` of a message of `total` bytes
// (after the 64-byte ipad block) and its SHA-256 padding (FIPS 180-4 §5.1.1) as kBlocks
// blocks at `dst`: one masked load per block
// (masked-off bytes are neither read nor faulted on: Intel SDM Vol. 1 §15.4.3, so no byte past
// the message is touched), the padding merged in registers, one 512-bit store. No branches:
// lengths differ from lane to lane.
template <int kBlocks>
SASMINT_ALWAYS_INLINE void WritePaddedBlocks(uint8_t* dst, const uint8_t* message, size_t len,
                                             size_t total) {
  const uint64_t bits = (64 + uint64_t{total}) * 8;
  for (int b = 0; b < kBlocks; ++b) {
    const int64_t rest = static_cast<int64_t>(len) - 64 * b;  // message bytes from here on
    const uint64_t n = static_cast<uint64_t>(rest < 0 ? 0 : rest > 64 ? 64 : rest);
    const __mmask64 bytes = n == 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
    const __mmask64 end = rest >= 0 && rest < 64 ? __mmask64{1} << rest : 0;
    __m512i v = _mm512_maskz_loadu_epi8(bytes, message + (n > 0 ? 64 * b : 0));
    v = _mm512_mask_set1_epi8(v, end, static_cast<char>(0x80));
    if (b + 1 == kBlocks) {
      v = _mm512_mask_set1_epi64(v, 0x80, static_cast<long long>(__builtin_bswap64(bits)));
    }
    _mm512_store_si512(dst + 64 * b, v);
  }
}

// HmacLanes signs messages of head_blocks + kTailBlocks inner blocks.
template <int kTailBlocks>
SASMINT_ALWAYS_INLINE void HmacLanes(const HmacLaneGroup& g, size_t head_blocks) {
  alignas(64) uint32_t words[16 * 16];
  alignas(64) uint32_t outer[8 * 16];
  alignas(64) uint8_t blocks[16][kTailBlocks * 64];
  const uint8_t* ptrs[16];
  const size_t offset = 64 * head_blocks;
  for (int l = 0; l < 16; ++l) {
    WritePaddedBlocks<kTailBlocks>(blocks[l], g.tail[l], g.length[l] - offset, g.length[l]);
    ptrs[l] = blocks[l];
  }
  StoreStates(g.inner, words);
  StoreStates(g.outer, outer);
  // An opaque zero: with a constant one GCC turns these stores (and the wipe below) into
  // `rep stosq`, whose start-up costs more than the stores.
  __m512i zero = _mm512_setzero_si512();
  __asm__("" : "+v"(zero));
  _mm512_store_si512(words + 16 * 8, _mm512_set1_epi32(static_cast<int>(kOuterPaddingWord8)));
  for (int w = 9; w < 15; ++w) _mm512_store_si512(words + 16 * w, zero);
  _mm512_store_si512(words + 16 * 15, _mm512_set1_epi32(static_cast<int>(kOuterBitLength)));
  if (head_blocks > 0) Sha256CompressX16Avx512(words, g.head, head_blocks);
  Sha256CompressX16Avx512(words, ptrs, kTailBlocks);
  Sha256CompressWordsX16Avx512(outer, words);
  StoreMacs(outer, g.mac);
  // Key-derived state: the inner midstates and digests (rows 0..7) and the outer state.
  for (int w = 0; w < 8; ++w) {
    _mm512_store_si512(words + 16 * w, zero);
    _mm512_store_si512(outer + 16 * w, zero);
  }
  KeepStores(words);
  KeepStores(outer);
}

}  // namespace

void HmacLanesX16Avx512(const HmacLaneGroup& g, size_t num_blocks) {
  if (num_blocks == 1) {
    HmacLanes<1>(g, 0);
  } else {
    HmacLanes<2>(g, num_blocks - 2);
  }
  _mm256_zeroupper();  // SHA-NI code may run next (sha256_kernel.h).
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-in.

namespace sasmint::internal {
void HmacLanesX16Avx512(const HmacLaneGroup& g, size_t n) { HmacLanesPortableX16(g, n); }
}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
