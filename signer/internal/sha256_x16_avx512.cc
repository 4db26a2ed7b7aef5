// AVX-512 SHA-256 kernel: 16 lanes, one per 32-bit element of a ZMM register. Compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512dq (its own object library); call only when
// IsaSupported(Isa::kAvx512).
//
// With 32 ZMM registers the eight state words and the 16-word schedule window all stay in
// registers. Per round: 6 vprord + 4 vpternlogd (Σ0, Σ1, Ch, Maj) + 7 vpaddd; the rotates all
// issue on port 0 on Intel cores, so they (not the adds) bound the throughput.
#include "signer/internal/sha256_kernel.h"

#if defined(__x86_64__)

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_epi32() (a self-initialized variable) as
// the pass-through operand, which -W(maybe-)uninitialized reports once inlined (GCC PR 105593,
// fixed in GCC 13). Silence it for the intrinsic headers only.
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

#include "signer/internal/sha256_lanes_inl.h"

namespace sasmint::internal {
namespace {

struct V512 {
  using Vec = __m512i;
  static constexpr int kLanes = 16;
  // vpternlogd truth tables over (A, B, C) = (0xF0, 0xCC, 0xAA).
  static constexpr int kXor3 = 0x96;  // A ^ B ^ C
  static constexpr int kCh = 0xCA;    // A ? B : C
  static constexpr int kMaj = 0xE8;   // majority(A, B, C)

  static SASMINT_ALWAYS_INLINE Vec Load(const uint32_t* p) { return _mm512_loadu_si512(p); }
  static SASMINT_ALWAYS_INLINE void Store(uint32_t* p, Vec v) { _mm512_storeu_si512(p, v); }
  static SASMINT_ALWAYS_INLINE Vec Add(Vec a, Vec b) { return _mm512_add_epi32(a, b); }
  static SASMINT_ALWAYS_INLINE Vec AddConst(Vec a, const uint32_t* k) {
    return _mm512_add_epi32(a, _mm512_set1_epi32(static_cast<int>(*k)));
  }
  static SASMINT_ALWAYS_INLINE Vec BigSigma0(Vec x) {
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 2), _mm512_ror_epi32(x, 13),
                                     _mm512_ror_epi32(x, 22), kXor3);
  }
  static SASMINT_ALWAYS_INLINE Vec BigSigma1(Vec x) {
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 6), _mm512_ror_epi32(x, 11),
                                     _mm512_ror_epi32(x, 25), kXor3);
  }
  static SASMINT_ALWAYS_INLINE Vec SmallSigma0(Vec x) {
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18),
                                     _mm512_srli_epi32(x, 3), kXor3);
  }
  static SASMINT_ALWAYS_INLINE Vec SmallSigma1(Vec x) {
    return _mm512_ternarylogic_epi32(_mm512_ror_epi32(x, 17), _mm512_ror_epi32(x, 19),
                                     _mm512_srli_epi32(x, 10), kXor3);
  }
  static SASMINT_ALWAYS_INLINE Vec Ch(Vec e, Vec f, Vec g) {
    return _mm512_ternarylogic_epi32(e, f, g, kCh);
  }
  static SASMINT_ALWAYS_INLINE Vec Xor(Vec a, Vec b) { return _mm512_xor_si512(a, b); }
  static SASMINT_ALWAYS_INLINE Vec Maj(Vec a, Vec b, Vec c, Vec, Vec) {
    return _mm512_ternarylogic_epi32(a, b, c, kMaj);
  }
};

using Rounds = Sha256LaneRounds<V512>;
constexpr size_t kBlockBytes = 64;

// Byte order: SHA-256 words are big-endian (FIPS 180-4 §3.1); reverse each 32-bit element.
alignas(64) constexpr uint8_t kByteSwap32[64] = {
    3,  2,  1,  0,  7, 6, 5,  4,  11, 10, 9, 8, 15, 14, 13, 12, 3,  2,  1,  0,  7, 6,
    5,  4,  11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1,  0,  7,  6,  5,  4,  11, 10, 9, 8,
    15, 14, 13, 12, 3, 2, 1,  0,  7,  6,  5, 4, 11, 10, 9,  8,  15, 14, 13, 12};

SASMINT_ALWAYS_INLINE __m512i ByteSwap32(__m512i v) {
  return _mm512_shuffle_epi8(v, _mm512_load_si512(kByteSwap32));
}

SASMINT_ALWAYS_INLINE __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// LoadTransposedQuad sets w[4k..4k+3] to words 4k..4k+3 of the block at p[lane] + offset, for
// all 16 lanes. Chunk k of rows i, i+4, i+8, i+12 is loaded into the four 128-bit lanes of one
// register (1 load + 3 vinserti32x4, which issue on ports 0 and 5); a 4x4 transpose within each
// 128-bit lane (8 unpacks) then leaves word 4k+m of row 4q+i in element 4q+i.
SASMINT_ALWAYS_INLINE void LoadTransposedQuad(const uint8_t* const* p, size_t offset, int k,
                                              __m512i (&w)[16]) {
  const size_t at = offset + 16 * k;
  const auto rows = [&](int i) __attribute__((always_inline)) {
    __m512i v = _mm512_castsi128_si512(Load128(p[i] + at));
    v = _mm512_inserti32x4(v, Load128(p[i + 4] + at), 1);
    v = _mm512_inserti32x4(v, Load128(p[i + 8] + at), 2);
    return _mm512_inserti32x4(v, Load128(p[i + 12] + at), 3);
  };
  const __m512i y[4] = {rows(0), rows(1), rows(2), rows(3)};
  const __m512i t0 = _mm512_unpacklo_epi32(y[0], y[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(y[0], y[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(y[2], y[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(y[2], y[3]);
  w[4 * k + 0] = ByteSwap32(_mm512_unpacklo_epi64(t0, t2));
  w[4 * k + 1] = ByteSwap32(_mm512_unpackhi_epi64(t0, t2));
  w[4 * k + 2] = ByteSwap32(_mm512_unpacklo_epi64(t1, t3));
  w[4 * k + 3] = ByteSwap32(_mm512_unpackhi_epi64(t1, t3));
}

// LoadGatheredQuad does the same with 8 vpgatherqd (8 lanes each, from 64-bit pointers).
SASMINT_ALWAYS_INLINE void LoadGatheredQuad(__m512i ptr_lo, __m512i ptr_hi, size_t offset, int k,
                                            __m512i (&w)[16]) {
  for (int t = 4 * k; t < 4 * k + 4; ++t) {
    const __m512i off = _mm512_set1_epi64(static_cast<long long>(offset + 4 * t));
    const __m256i lo = _mm512_i64gather_epi32(_mm512_add_epi64(ptr_lo, off), nullptr, 1);
    const __m256i hi = _mm512_i64gather_epi32(_mm512_add_epi64(ptr_hi, off), nullptr, 1);
    w[t] = ByteSwap32(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
  }
}

}  // namespace

// Every entry point ends with vzeroupper: SSE code (SHA-NI) run next with dirty upper state
// would pay ~10x.

void Sha256CompressX16Avx512(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  for (size_t b = 0; b < num_blocks; ++b) {
    Rounds::Compress(
        state, [&](int k, __m512i(&w)[16]) __attribute__((always_inline)) {
          LoadTransposedQuad(blocks, kBlockBytes * b, k, w);
        });
  }
  _mm256_zeroupper();
}

void Sha256CompressX16Avx512Gather(uint32_t* state, const uint8_t* const* blocks,
                                   size_t num_blocks) {
  static_assert(sizeof(const uint8_t*) == 8);
  const __m512i ptr_lo = _mm512_loadu_si512(blocks);
  const __m512i ptr_hi = _mm512_loadu_si512(blocks + 8);
  for (size_t b = 0; b < num_blocks; ++b) {
    Rounds::Compress(
        state, [&](int k, __m512i(&w)[16]) __attribute__((always_inline)) {
          LoadGatheredQuad(ptr_lo, ptr_hi, kBlockBytes * b, k, w);
        });
  }
  _mm256_zeroupper();
}

void Sha256CompressWordsX16Avx512(uint32_t* state, const uint32_t* words) {
  Rounds::Compress(
      state, [&](int k, __m512i(&w)[16]) __attribute__((always_inline)) {
        for (int t = 4 * k; t < 4 * k + 4; ++t) w[t] = _mm512_loadu_si512(words + 16 * t);
      });
  _mm256_zeroupper();
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-ins.

namespace sasmint::internal {

void Sha256CompressX16Avx512(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(16, state, blocks, num_blocks);
}
void Sha256CompressX16Avx512Gather(uint32_t* state, const uint8_t* const* blocks,
                                   size_t num_blocks) {
  Sha256CompressPortable(16, state, blocks, num_blocks);
}
void Sha256CompressWordsX16Avx512(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(16, state, words);
}

}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
