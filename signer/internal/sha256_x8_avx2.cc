// AVX2 SHA-256 kernel: 8 lanes, one per 32-bit element of a YMM register. Compiled with -mavx2
// (its own object library); call only when IsaSupported(Isa::kAvx2).
//
// AVX2 has no vector rotate and no three-input logic: a rotate is two shifts and an OR, and the
// 16 YMM registers cannot hold state and schedule together, so part of the window lives on the
// stack (the compiler chooses which).
#include "signer/internal/sha256_kernel.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "signer/internal/sha256_lanes_inl.h"

namespace sasmint::internal {
namespace {

struct V256 {
  using Vec = __m256i;
  static constexpr int kLanes = 8;

  template <int n>
  static SASMINT_ALWAYS_INLINE Vec Ror(Vec x) {
    return _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - n));
  }
  static SASMINT_ALWAYS_INLINE Vec Xor(Vec a, Vec b) { return _mm256_xor_si256(a, b); }

  static SASMINT_ALWAYS_INLINE Vec Load(const uint32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static SASMINT_ALWAYS_INLINE void Store(uint32_t* p, Vec v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
  static SASMINT_ALWAYS_INLINE Vec Add(Vec a, Vec b) { return _mm256_add_epi32(a, b); }
  static SASMINT_ALWAYS_INLINE Vec AddConst(Vec a, const uint32_t* k) {
    return _mm256_add_epi32(a, _mm256_set1_epi32(static_cast<int>(*k)));
  }
  static SASMINT_ALWAYS_INLINE Vec BigSigma0(Vec x) {
    return Xor(Xor(Ror<2>(x), Ror<13>(x)), Ror<22>(x));
  }
  static SASMINT_ALWAYS_INLINE Vec BigSigma1(Vec x) {
    return Xor(Xor(Ror<6>(x), Ror<11>(x)), Ror<25>(x));
  }
  static SASMINT_ALWAYS_INLINE Vec SmallSigma0(Vec x) {
    return Xor(Xor(Ror<7>(x), Ror<18>(x)), _mm256_srli_epi32(x, 3));
  }
  static SASMINT_ALWAYS_INLINE Vec SmallSigma1(Vec x) {
    return Xor(Xor(Ror<17>(x), Ror<19>(x)), _mm256_srli_epi32(x, 10));
  }
  // Ch = g ^ (e & (f ^ g)); Maj = b ^ ((a ^ b) & (b ^ c)), with a ^ b and b ^ c carried from
  // round to round by Sha256LaneRounds (two operations instead of four).
  static SASMINT_ALWAYS_INLINE Vec Ch(Vec e, Vec f, Vec g) {
    return Xor(g, _mm256_and_si256(e, Xor(f, g)));
  }
  static SASMINT_ALWAYS_INLINE Vec Maj(Vec, Vec b, Vec, Vec a_xor_b, Vec b_xor_c) {
    return Xor(b, _mm256_and_si256(a_xor_b, b_xor_c));
  }
};

using Rounds = Sha256LaneRounds<V256>;
constexpr size_t kBlockBytes = 64;

// SHA-256 words are big-endian (FIPS 180-4 §3.1): reverse each 32-bit element.
SASMINT_ALWAYS_INLINE __m256i ByteSwap32(__m256i v) {
  const __m256i mask = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2,
                                        1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  return _mm256_shuffle_epi8(v, mask);
}

SASMINT_ALWAYS_INLINE __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// LoadTransposedQuad sets w[4k..4k+3] to words 4k..4k+3 of the block at p[lane] + offset, for
// all 8 lanes. Chunk k of rows i and i+4 goes into the two halves of one register (a load and a
// vinserti128 from memory), then a 4x4 transpose within each half (8 unpacks) leaves word 4k+m
// of row 4q+i in element 4q+i: no cross-lane shuffles.
SASMINT_ALWAYS_INLINE void LoadTransposedQuad(const uint8_t* const* p, size_t offset, int k,
                                              __m256i (&w)[16]) {
  const size_t at = offset + 16 * k;
  const auto rows = [&](int i) __attribute__((always_inline)) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(Load128(p[i] + at)),
                                   Load128(p[i + 4] + at), 1);
  };
  const __m256i y[4] = {rows(0), rows(1), rows(2), rows(3)};
  const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(y[0], y[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(y[2], y[3]);
  w[4 * k + 0] = ByteSwap32(_mm256_unpacklo_epi64(t0, t2));
  w[4 * k + 1] = ByteSwap32(_mm256_unpackhi_epi64(t0, t2));
  w[4 * k + 2] = ByteSwap32(_mm256_unpacklo_epi64(t1, t3));
  w[4 * k + 3] = ByteSwap32(_mm256_unpackhi_epi64(t1, t3));
}

}  // namespace

// Every entry point ends with vzeroupper: SSE code (SHA-NI) run next with dirty upper state
// would pay ~10x.

void Sha256CompressX8Avx2(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  for (size_t b = 0; b < num_blocks; ++b) {
    Rounds::Compress(
        state, [&](int k, __m256i(&w)[16]) __attribute__((always_inline)) {
          LoadTransposedQuad(blocks, kBlockBytes * b, k, w);
        });
  }
  _mm256_zeroupper();
}

void Sha256CompressWordsX8Avx2(uint32_t* state, const uint32_t* words) {
  Rounds::Compress(
      state, [&](int k, __m256i(&w)[16]) __attribute__((always_inline)) {
        for (int t = 4 * k; t < 4 * k + 4; ++t) {
          w[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + 8 * t));
        }
      });
  _mm256_zeroupper();
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-ins.

namespace sasmint::internal {

void Sha256CompressX8Avx2(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(8, state, blocks, num_blocks);
}
void Sha256CompressWordsX8Avx2(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(8, state, words);
}

}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
