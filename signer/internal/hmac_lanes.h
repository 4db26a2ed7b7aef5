// hmac_lanes.h: HMAC-SHA256 for one group of jobs on one SHA-256 lane kernel (internal to
// BatchSigner), one implementation per kernel family, each in the kernel family's object
// library (same flags, same rules: sha256_kernel.h).
//
// A group function pads the jobs' messages into blocks on its stack, gathers their inner and
// outer midstates into the kernel's structure-of-arrays layout, runs the kernel's compress()
// over the inner blocks and compress_words() over the outer block (the inner digest stays in
// rows 0..7 of the word buffer: no copy), and scatters the MACs as big-endian bytes. Whatever
// the kernel reads back was stored at the width of its loads: a 512-bit load that overlaps
// sixteen fresh 4-byte stores cannot be store-forwarded and stalls until they commit, which
// cost more than the gather itself in a first, scalar version. Its stack buffers of
// key-derived state are wiped before it returns. Every lane runs: fill unused lanes with a
// copy of a used one (their MAC pointers may alias). Thread-safe.
#ifndef SASMINT_SIGNER_INTERNAL_HMAC_LANES_H_
#define SASMINT_SIGNER_INTERNAL_HMAC_LANES_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "signer/internal/isa.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {

struct HmacLaneGroup {
  const uint32_t* inner[kSha256MaxLanes];   // 8 words: the midstate after key ^ ipad
  const uint32_t* outer[kSha256MaxLanes];   // 8 words: the midstate after key ^ opad
  const uint8_t* message[kSha256MaxLanes];  // `length` bytes, any alignment
  uint32_t length[kSha256MaxLanes];         // each with ceil((length + 9) / 64) == num_blocks
  uint8_t* mac[kSha256MaxLanes];            // 32 bytes out
};

// Each signs every lane of `group`: mac = HMAC-SHA256 of the message from the midstates.
// num_blocks is 1, 2 or 3 (kHmacMaxGroupBlocks).
using HmacLanesFn = void (*)(const HmacLaneGroup& group, size_t num_blocks);
inline constexpr size_t kHmacMaxGroupBlocks = 3;

void HmacLanesPortableX1(const HmacLaneGroup& group, size_t num_blocks);
void HmacLanesPortableX16(const HmacLaneGroup& group, size_t num_blocks);
void HmacLanesX1Shani(const HmacLaneGroup& group, size_t num_blocks);
void HmacLanesX2Shani(const HmacLaneGroup& group, size_t num_blocks);
void HmacLanesX8Avx2(const HmacLaneGroup& group, size_t num_blocks);
void HmacLanesX16Avx512(const HmacLaneGroup& group, size_t num_blocks);

// HmacLaneKernel names a group function for the plan (hmac_kernel_plan.h).
struct HmacLaneKernel {
  Isa isa;
  int lanes;
  const char* name;  // the lane kernel's name, e.g. "avx512_x16"
  HmacLanesFn sign;
};

// FindHmacLaneKernel returns the group function of `isa` with `lanes` lanes, or null.
const HmacLaneKernel* FindHmacLaneKernel(Isa isa, int lanes);

// kOuterPaddingWord8 / kOuterBitLength: rows 8 and 15 of the outer block's words (the rest of
// rows 8..15 are zero): the 32-byte inner digest follows the 64-byte opad block.
inline constexpr uint32_t kOuterPaddingWord8 = 0x80000000u;
inline constexpr uint32_t kOuterBitLength = (64 + 32) * 8;

// KeepStores stops the compiler from dropping stores to `p` (wiping a buffer that dies next).
inline void KeepStores(void* p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

// WipeStack zeroes `n` bytes at `p` in a way the compiler keeps.
inline void WipeStack(void* p, size_t n) {
  std::memset(p, 0, n);
  KeepStores(p);
}

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_HMAC_LANES_H_
