// SHA-NI HMAC groups (1 and 2 streams) around Sha256CompressX1Shani / X2Shani: midstates in
// and MACs out with 128-bit moves and unpacks, stored at the width the kernel loads them
// (hmac_lanes.h); the outer block as bytes (see below). Compiled with the SHA-NI kernel's flags
// (-msha -msse4.1 -mssse3 -mno-avx, its object library): legacy SSE only. Call only when
// IsaSupported(Isa::kShani). Includes nothing with a static initializer.
#include "signer/internal/hmac_lanes.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "common/macros.h"
#include "signer/internal/hmac_lanes_inl.h"
#include "signer/internal/sha256_kernel.h"

#if defined(__AVX__)
#error "hmac_lanes_shani.cc must be compiled without AVX (-mno-avx): see sha256_shani.cc"
#endif

namespace sasmint::internal {
namespace {

SASMINT_ALWAYS_INLINE __m128i Load(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
SASMINT_ALWAYS_INLINE void Store(void* p, __m128i v) {
  _mm_storeu_si128(static_cast<__m128i*>(p), v);
}

SASMINT_ALWAYS_INLINE __m128i ByteSwap32(__m128i v) {
  return _mm_shuffle_epi8(v, _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12));
}

// Wipe zeroes `n` (a multiple of 16) bytes at `p` with an opaque zero: with a constant one GCC
// turns the stores into `rep stosq`, whose start-up costs more than the stores.
SASMINT_ALWAYS_INLINE void Wipe(void* p, size_t n) {
  __m128i zero = _mm_setzero_si128();
  __asm__("" : "+x"(zero));
  for (size_t k = 0; k < n; k += 16) Store(static_cast<uint8_t*>(p) + k, zero);
  KeepStores(p);
}

// StoreOuterPadding stores bytes 32..63 of an outer block: 0x80, zeros, and the bit length of
// opad block + inner digest (768) big-endian.
SASMINT_ALWAYS_INLINE void StoreOuterPadding(uint8_t* block) {
  Store(block + 32,
        _mm_setr_epi8(static_cast<char>(0x80), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  Store(block + 48, _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0));
}

// StoreStates2 interleaves the states of two lanes into SoA rows: [a0 b0 a1 b1] ...
SASMINT_ALWAYS_INLINE void StoreStates2(const uint32_t* a, const uint32_t* b, uint32_t* soa) {
  for (int k = 0; k < 2; ++k) {
    const __m128i x = Load(a + 4 * k), y = Load(b + 4 * k);
    Store(soa + 8 * k, _mm_unpacklo_epi32(x, y));
    Store(soa + 8 * k + 4, _mm_unpackhi_epi32(x, y));
  }
}

// StoreMacs2 undoes StoreStates2 into big-endian bytes.
SASMINT_ALWAYS_INLINE void StoreMacs2(const uint32_t* soa, uint8_t* a, uint8_t* b) {
  for (int k = 0; k < 2; ++k) {
    const __m128 lo = _mm_castsi128_ps(Load(soa + 8 * k));      // a0 b0 a1 b1
    const __m128 hi = _mm_castsi128_ps(Load(soa + 8 * k + 4));  // a2 b2 a3 b3
    Store(a + 16 * k,
          ByteSwap32(_mm_castps_si128(_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)))));
    Store(b + 16 * k,
          ByteSwap32(_mm_castps_si128(_mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)))));
  }
}

}  // namespace

// The outer block goes in as bytes (the inner digest stored big-endian, then the padding)
// through compress(), not as SoA words through compress_words(): the SHA-NI word gather costs
// more than the byte swap (compare them with sha256_kernel_benchmark's BM_Compress).

void HmacLanesX1Shani(const HmacLaneGroup& g, size_t num_blocks) {
  alignas(64) uint32_t inner[8];
  alignas(64) uint32_t outer[8];
  alignas(64) uint8_t blocks[2 * 64];
  alignas(64) uint8_t outer_block[64];
  const size_t offset = HmacTailOffset(num_blocks);
  const size_t tail_blocks = HmacTailBlocks(num_blocks);
  WritePaddedBlocks(blocks, g.tail[0], g.length[0] - offset, tail_blocks, g.length[0]);
  const uint8_t* ptrs[1] = {blocks};
  const uint8_t* outer_ptrs[1] = {outer_block};
  Store(inner, Load(g.inner[0]));
  Store(inner + 4, Load(g.inner[0] + 4));
  Store(outer, Load(g.outer[0]));
  Store(outer + 4, Load(g.outer[0] + 4));
  if (offset > 0) Sha256CompressX1Shani(inner, g.head, num_blocks - tail_blocks);
  Sha256CompressX1Shani(inner, ptrs, tail_blocks);
  Store(outer_block, ByteSwap32(Load(inner)));
  Store(outer_block + 16, ByteSwap32(Load(inner + 4)));
  StoreOuterPadding(outer_block);
  Sha256CompressX1Shani(outer, outer_ptrs, 1);
  Store(g.mac[0], ByteSwap32(Load(outer)));
  Store(g.mac[0] + 16, ByteSwap32(Load(outer + 4)));
  Wipe(inner, sizeof(inner));
  Wipe(outer, sizeof(outer));
  Wipe(outer_block, 32);
}

void HmacLanesX2Shani(const HmacLaneGroup& g, size_t num_blocks) {
  alignas(64) uint32_t inner[8 * 2];
  alignas(64) uint32_t outer[8 * 2];
  alignas(64) uint8_t blocks[2][2 * 64];
  alignas(64) uint8_t outer_blocks[2][64];
  const size_t offset = HmacTailOffset(num_blocks);
  const size_t tail_blocks = HmacTailBlocks(num_blocks);
  for (int l = 0; l < 2; ++l) {
    WritePaddedBlocks(blocks[l], g.tail[l], g.length[l] - offset, tail_blocks, g.length[l]);
  }
  const uint8_t* ptrs[2] = {blocks[0], blocks[1]};
  const uint8_t* outer_ptrs[2] = {outer_blocks[0], outer_blocks[1]};
  StoreStates2(g.inner[0], g.inner[1], inner);
  StoreStates2(g.outer[0], g.outer[1], outer);
  if (offset > 0) Sha256CompressX2Shani(inner, g.head, num_blocks - tail_blocks);
  Sha256CompressX2Shani(inner, ptrs, tail_blocks);
  StoreMacs2(inner, outer_blocks[0], outer_blocks[1]);  // the inner digests, big-endian
  StoreOuterPadding(outer_blocks[0]);
  StoreOuterPadding(outer_blocks[1]);
  Sha256CompressX2Shani(outer, outer_ptrs, 1);
  StoreMacs2(outer, g.mac[0], g.mac[1]);
  Wipe(inner, sizeof(inner));
  Wipe(outer, sizeof(outer));
  Wipe(outer_blocks, sizeof(outer_blocks));
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-ins.

namespace sasmint::internal {
void HmacLanesX1Shani(const HmacLaneGroup& g, size_t n) { HmacLanesPortableX1(g, n); }
void HmacLanesX2Shani(const HmacLaneGroup& g, size_t n) {
  for (int l = 0; l < 2; ++l) {
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
