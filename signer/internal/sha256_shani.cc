// SHA-NI SHA-256 kernels: 1, 2 or 4 independent streams, interleaved quad-round by quad-round.
// Measured on Sapphire Rapids: sha256rnds2 has a 4-cycle latency and issues every 3 cycles, so
// one stream is latency-bound (~143 cycles per block when calls depend on each other) and two
// reach the issue bound (32 x 3 = 96 cycles per block); four add nothing and spill, as legacy
// SSE has only 16 XMM registers. Compiled with
// -msha -msse4.1 -mssse3 -mno-avx -mno-avx2 (its own object library): legacy-SSE encodings
// only, so no AVX auto-vectorization can sneak in. SSE code run with dirty upper YMM/ZMM state
// is ~10x slower here; the AVX kernels end with vzeroupper for that reason.
//
// The instructions keep the state as two registers, ABEF and CDGH (A in the high element);
// the structure-of-arrays state is converted on entry and exit only.
#include "signer/internal/sha256_kernel.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "signer/internal/sha256_lanes_inl.h"

#if defined(__AVX__)
#error "sha256_shani.cc must be compiled without AVX (-mno-avx): see the comment at the top"
#endif

namespace sasmint::internal {
namespace {

// Unroll calls f(std::integral_constant<int, 0>) .. f(std::integral_constant<int, N - 1>).
template <int N, class F>
SASMINT_ALWAYS_INLINE void Unroll(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (f(std::integral_constant<int, I>{}), ...);
  }
  (std::make_integer_sequence<int, N>{});
}

SASMINT_ALWAYS_INLINE __m128i Load(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
SASMINT_ALWAYS_INLINE void Store(void* p, __m128i v) {
  _mm_storeu_si128(static_cast<__m128i*>(p), v);
}
SASMINT_ALWAYS_INLINE __m128i ShufflePs(__m128i a, __m128i b, int imm_is_odd) {
  // shufps picks {a[k], a[k+2], b[k], b[k+2]}, k = 0 or 1: de-interleaves two streams.
  return imm_is_odd ? _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b),
                                                      _MM_SHUFFLE(3, 1, 3, 1)))
                    : _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b),
                                                      _MM_SHUFFLE(2, 0, 2, 0)));
}

// Transpose4 transposes the 4x4 matrix of 32-bit words in r[] (rows become columns).
SASMINT_ALWAYS_INLINE void Transpose4(__m128i (&r)[4]) {
  const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]);
  const __m128i t1 = _mm_unpackhi_epi32(r[0], r[1]);
  const __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]);
  const __m128i t3 = _mm_unpackhi_epi32(r[2], r[3]);
  r[0] = _mm_unpacklo_epi64(t0, t2);
  r[1] = _mm_unpackhi_epi64(t0, t2);
  r[2] = _mm_unpacklo_epi64(t1, t3);
  r[3] = _mm_unpackhi_epi64(t1, t3);
}

// GatherQuad sets out[s] to words 4q..4q+3 of stream s from a structure-of-arrays table with
// N streams (soa[word * N + stream]).
template <int N>
SASMINT_ALWAYS_INLINE void GatherQuad(const uint32_t* soa, int q, __m128i (&out)[N]) {
  const uint32_t* p = soa + 4 * q * N;
  if constexpr (N == 1) {
    out[0] = Load(p);
  } else if constexpr (N == 2) {
    const __m128i lo = Load(p), hi = Load(p + 4);
    out[0] = ShufflePs(lo, hi, 0);
    out[1] = ShufflePs(lo, hi, 1);
  } else {
    static_assert(N == 4);
    for (int i = 0; i < 4; ++i) out[i] = Load(p + 4 * i);
    Transpose4(out);
  }
}

// ScatterQuad is the inverse of GatherQuad.
template <int N>
SASMINT_ALWAYS_INLINE void ScatterQuad(uint32_t* soa, int q, const __m128i (&in)[N]) {
  uint32_t* p = soa + 4 * q * N;
  if constexpr (N == 1) {
    Store(p, in[0]);
  } else if constexpr (N == 2) {
    Store(p, _mm_unpacklo_epi32(in[0], in[1]));
    Store(p + 4, _mm_unpackhi_epi32(in[0], in[1]));
  } else {
    static_assert(N == 4);
    __m128i r[4] = {in[0], in[1], in[2], in[3]};
    Transpose4(r);
    for (int i = 0; i < 4; ++i) Store(p + 4 * i, r[i]);
  }
}

constexpr size_t kSha256BlockBytes = 64;

// Message sources: Quad(q, out) sets out[s] to message words 4q..4q+3 of stream s.
struct BlockSource {
  const uint8_t* const* blocks;
  size_t offset;
  SASMINT_ALWAYS_INLINE BlockSource Advance(size_t block) const {
    return {blocks, offset + kSha256BlockBytes * block};
  }
  template <int N>
  SASMINT_ALWAYS_INLINE void Quad(int q, __m128i (&out)[N]) const {
    // SHA-256 words are big-endian (FIPS 180-4 §3.1).
    const __m128i bswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    for (int s = 0; s < N; ++s) {
      out[s] = _mm_shuffle_epi8(Load(blocks[s] + offset + 16 * q), bswap);
    }
  }
};

struct WordSource {  // One block only.
  const uint32_t* words;
  SASMINT_ALWAYS_INLINE WordSource Advance(size_t) const { return *this; }
  template <int N>
  SASMINT_ALWAYS_INLINE void Quad(int q, __m128i (&out)[N]) const {
    GatherQuad<N>(words, q, out);
  }
};

template <int N, class Source>
SASMINT_ALWAYS_INLINE void CompressStreams(uint32_t* state, const Source& source,
                                           size_t num_blocks) {
  __m128i abef[N], cdgh[N];
  {
    __m128i dcba[N], hgfe[N];
    GatherQuad<N>(state, 0, dcba);
    GatherQuad<N>(state, 1, hgfe);
    for (int s = 0; s < N; ++s) {
      const __m128i cdab = _mm_shuffle_epi32(dcba[s], 0xB1);
      const __m128i efgh = _mm_shuffle_epi32(hgfe[s], 0x1B);
      abef[s] = _mm_alignr_epi8(cdab, efgh, 8);
      cdgh[s] = _mm_blend_epi16(efgh, cdab, 0xF0);
    }
  }

  for (size_t b = 0; b < num_blocks; ++b) {
    const Source src = source.Advance(b);
    __m128i abef_in[N], cdgh_in[N];
    for (int s = 0; s < N; ++s) {
      abef_in[s] = abef[s];
      cdgh_in[s] = cdgh[s];
    }
    // m[i & 3][s] holds W[4i..4i+3] of stream s when quad-round i runs.
    __m128i m[4][N];
    Unroll<16>([&](auto quad) __attribute__((always_inline)) {
      constexpr int i = decltype(quad)::value;
      if constexpr (i < 4) src.template Quad<N>(i, m[i]);
      const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kSha256K + 4 * i));
      Unroll<N>([&](auto stream) __attribute__((always_inline)) {
        constexpr int s = decltype(stream)::value;
        __m128i msg = _mm_add_epi32(m[i & 3][s], k);
        cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], msg);
        if constexpr (i >= 3 && i <= 14) {
          // W[4(i+1)..] = msg2(msg1(W[4(i-3)..], W[4(i-2)..]) + W[4i-3..4i], W[4i..]);
          // the msg1 half was applied at quad-round i - 2.
          const __m128i w_shifted = _mm_alignr_epi8(m[i & 3][s], m[(i - 1) & 3][s], 4);
          m[(i + 1) & 3][s] = _mm_add_epi32(m[(i + 1) & 3][s], w_shifted);
          m[(i + 1) & 3][s] = _mm_sha256msg2_epu32(m[(i + 1) & 3][s], m[i & 3][s]);
        }
        msg = _mm_shuffle_epi32(msg, 0x0E);
        abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], msg);
        if constexpr (i >= 1 && i <= 12) {
          m[(i - 1) & 3][s] = _mm_sha256msg1_epu32(m[(i - 1) & 3][s], m[i & 3][s]);
        }
      });
    });
    for (int s = 0; s < N; ++s) {
      abef[s] = _mm_add_epi32(abef[s], abef_in[s]);
      cdgh[s] = _mm_add_epi32(cdgh[s], cdgh_in[s]);
    }
  }

  __m128i dcba[N], hgfe[N];
  for (int s = 0; s < N; ++s) {
    const __m128i feba = _mm_shuffle_epi32(abef[s], 0x1B);
    const __m128i dchg = _mm_shuffle_epi32(cdgh[s], 0xB1);
    dcba[s] = _mm_blend_epi16(feba, dchg, 0xF0);
    hgfe[s] = _mm_alignr_epi8(dchg, feba, 8);
  }
  ScatterQuad<N>(state, 0, dcba);
  ScatterQuad<N>(state, 1, hgfe);
}

}  // namespace

void Sha256CompressX1Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  CompressStreams<1>(state, BlockSource{blocks, 0}, num_blocks);
}
void Sha256CompressX2Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  CompressStreams<2>(state, BlockSource{blocks, 0}, num_blocks);
}
void Sha256CompressX4Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  CompressStreams<4>(state, BlockSource{blocks, 0}, num_blocks);
}
void Sha256CompressWordsX1Shani(uint32_t* state, const uint32_t* words) {
  CompressStreams<1>(state, WordSource{words}, 1);
}
void Sha256CompressWordsX2Shani(uint32_t* state, const uint32_t* words) {
  CompressStreams<2>(state, WordSource{words}, 1);
}
void Sha256CompressWordsX4Shani(uint32_t* state, const uint32_t* words) {
  CompressStreams<4>(state, WordSource{words}, 1);
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-ins.

namespace sasmint::internal {

void Sha256CompressX1Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(1, state, blocks, num_blocks);
}
void Sha256CompressX2Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(2, state, blocks, num_blocks);
}
void Sha256CompressX4Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(4, state, blocks, num_blocks);
}
void Sha256CompressWordsX1Shani(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(1, state, words);
}
void Sha256CompressWordsX2Shani(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(2, state, words);
}
void Sha256CompressWordsX4Shani(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(4, state, words);
}

}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
