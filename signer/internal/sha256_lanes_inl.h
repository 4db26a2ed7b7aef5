// sha256_lanes_inl.h: the 64 rounds of the SHA-256 compression (FIPS 180-4 §6.2.2) written once
// over a lane-vector type, fully unrolled, with the message schedule in a rolling 16-entry
// window. Included only by the ISA files (sha256_x8_avx2.cc, sha256_x16_avx512.cc), each of which
// supplies the vector operations and compiles this with its own target flags.
//
// Everything here lives in an anonymous namespace on purpose: the same inline code compiled with
// different -m flags in two objects must never be merged by the linker (an ODR violation that
// would let AVX-512 code run on a CPU without it).
#ifndef SASMINT_SIGNER_INTERNAL_SHA256_LANES_INL_H_
#define SASMINT_SIGNER_INTERNAL_SHA256_LANES_INL_H_

#include <cstdint>

#include "common/macros.h"
#include "signer/internal/sha256_constants.h"

namespace sasmint::internal {
namespace {  // NOLINT(build/namespaces): see the header comment.

// V supplies the lane vector: `Vec`; `kLanes`; unaligned `Load` / `Store` of kLanes words;
// `Add`; `AddConst(v, k)` (adds *k to every lane); `Xor`; `BigSigma0/1`, `SmallSigma0/1`, `Ch`;
// and `Maj(a, b, c, ab, bc)` with ab = a ^ b and bc = b ^ c precomputed.
template <class V>
struct Sha256LaneRounds {
  using Vec = typename V::Vec;

  // Round t: T1 = h + Σ1(e) + Ch(e,f,g) + K_t + W_t; d += T1; h = T1 + Σ0(a) + Maj(a,b,c).
  // The caller rotates the names instead of moving registers. h + K + W is summed first: it is
  // off the e -> e' critical path.
  // bc carries b ^ c between rounds: this round's a ^ b is the next round's b ^ c, which lets
  // V::Maj use the 3-operation form b ^ ((a ^ b) & (b ^ c)) where it has no 3-input logic
  // (V::Maj ignores them otherwise, and the XORs are dead code).
  static SASMINT_ALWAYS_INLINE void Round(Vec a, Vec b, Vec c, Vec& d, Vec e, Vec f, Vec g, Vec& h,
                                          Vec w, const uint32_t* k, Vec& bc) {
    const Vec hkw = V::Add(h, V::AddConst(w, k));
    const Vec t1 = V::Add(V::Add(hkw, V::Ch(e, f, g)), V::BigSigma1(e));
    const Vec ab = V::Xor(a, b);
    d = V::Add(d, t1);
    h = V::Add(t1, V::Add(V::BigSigma0(a), V::Maj(a, b, c, ab, bc)));
    bc = ab;
  }

  // Compress runs one block for every lane. `state` is the structure-of-arrays chaining value
  // (state[w * V::kLanes + lane]); it is read at the start and, for the feed-forward, again at
  // the end, which keeps eight registers free for the schedule during the rounds.
  // load_quad(k, w) must set w[4k..4k+3] to message words 4k..4k+3; it runs just before round
  // 4k so that few words are live before they are needed.
  template <class LoadQuad>
  static SASMINT_ALWAYS_INLINE void Compress(uint32_t* state, LoadQuad&& load_quad) {
    Vec a = V::Load(state + 0 * V::kLanes), b = V::Load(state + 1 * V::kLanes);
    Vec c = V::Load(state + 2 * V::kLanes), d = V::Load(state + 3 * V::kLanes);
    Vec e = V::Load(state + 4 * V::kLanes), f = V::Load(state + 5 * V::kLanes);
    Vec g = V::Load(state + 6 * V::kLanes), h = V::Load(state + 7 * V::kLanes);
    Vec bc = V::Xor(b, c);
    Vec w[16];
    // Read K through an opaque pointer: with the constants visible, GCC hoists 64 broadcasts out
    // of the block loop and spills them, instead of using embedded-broadcast memory operands.
    const uint32_t* k = kSha256K;
    __asm__("" : "+r"(k));

// W_j <- W_j + σ0(W_{j+1}) + W_{j+9} + σ1(W_{j+14}), indices mod 16 (FIPS 180-4 §6.2.2 step 1).
#define SASMINT_SCHED(j, j1, j9, j14) \
  w[j] = V::Add(V::Add(w[j], V::SmallSigma0(w[j1])), V::Add(w[j9], V::SmallSigma1(w[j14])))
#define SASMINT_LOAD(j, j1, j9, j14) \
  if constexpr ((j) % 4 == 0) load_quad((j) / 4, w)
#define SASMINT_ROUNDS16(base, S)                            \
  S(0, 1, 9, 14);                                            \
  Round(a, b, c, d, e, f, g, h, w[0], k + (base) + 0, bc);   \
  S(1, 2, 10, 15);                                           \
  Round(h, a, b, c, d, e, f, g, w[1], k + (base) + 1, bc);   \
  S(2, 3, 11, 0);                                            \
  Round(g, h, a, b, c, d, e, f, w[2], k + (base) + 2, bc);   \
  S(3, 4, 12, 1);                                            \
  Round(f, g, h, a, b, c, d, e, w[3], k + (base) + 3, bc);   \
  S(4, 5, 13, 2);                                            \
  Round(e, f, g, h, a, b, c, d, w[4], k + (base) + 4, bc);   \
  S(5, 6, 14, 3);                                            \
  Round(d, e, f, g, h, a, b, c, w[5], k + (base) + 5, bc);   \
  S(6, 7, 15, 4);                                            \
  Round(c, d, e, f, g, h, a, b, w[6], k + (base) + 6, bc);   \
  S(7, 8, 0, 5);                                             \
  Round(b, c, d, e, f, g, h, a, w[7], k + (base) + 7, bc);   \
  S(8, 9, 1, 6);                                             \
  Round(a, b, c, d, e, f, g, h, w[8], k + (base) + 8, bc);   \
  S(9, 10, 2, 7);                                            \
  Round(h, a, b, c, d, e, f, g, w[9], k + (base) + 9, bc);   \
  S(10, 11, 3, 8);                                           \
  Round(g, h, a, b, c, d, e, f, w[10], k + (base) + 10, bc); \
  S(11, 12, 4, 9);                                           \
  Round(f, g, h, a, b, c, d, e, w[11], k + (base) + 11, bc); \
  S(12, 13, 5, 10);                                          \
  Round(e, f, g, h, a, b, c, d, w[12], k + (base) + 12, bc); \
  S(13, 14, 6, 11);                                          \
  Round(d, e, f, g, h, a, b, c, w[13], k + (base) + 13, bc); \
  S(14, 15, 7, 12);                                          \
  Round(c, d, e, f, g, h, a, b, w[14], k + (base) + 14, bc); \
  S(15, 0, 8, 13);                                           \
  Round(b, c, d, e, f, g, h, a, w[15], k + (base) + 15, bc)

    SASMINT_ROUNDS16(0, SASMINT_LOAD);
    SASMINT_ROUNDS16(16, SASMINT_SCHED);
    SASMINT_ROUNDS16(32, SASMINT_SCHED);
    SASMINT_ROUNDS16(48, SASMINT_SCHED);

#undef SASMINT_ROUNDS16
#undef SASMINT_LOAD
#undef SASMINT_SCHED

    // Launder the pointer so the compiler reloads the input state here instead of keeping the
    // values from the top of the function alive in registers across all 64 rounds.
    __asm__("" : "+r"(state));
    V::Store(state + 0 * V::kLanes, V::Add(V::Load(state + 0 * V::kLanes), a));
    V::Store(state + 1 * V::kLanes, V::Add(V::Load(state + 1 * V::kLanes), b));
    V::Store(state + 2 * V::kLanes, V::Add(V::Load(state + 2 * V::kLanes), c));
    V::Store(state + 3 * V::kLanes, V::Add(V::Load(state + 3 * V::kLanes), d));
    V::Store(state + 4 * V::kLanes, V::Add(V::Load(state + 4 * V::kLanes), e));
    V::Store(state + 5 * V::kLanes, V::Add(V::Load(state + 5 * V::kLanes), f));
    V::Store(state + 6 * V::kLanes, V::Add(V::Load(state + 6 * V::kLanes), g));
    V::Store(state + 7 * V::kLanes, V::Add(V::Load(state + 7 * V::kLanes), h));
  }
};

}  // namespace
}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_SHA256_LANES_INL_H_
