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

// A message of num_blocks inner blocks (with its padding) goes in as two parts: its first
// HmacTailOffset(num_blocks) bytes, whole blocks the kernel reads in place; and the rest, the
// tail, which the group function pads into HmacTailBlocks(num_blocks) blocks of its own. So
// messages of any length need at most two blocks of scratch per lane, and a tail of at most
// 119 bytes is all a caller without the message in one piece has to assemble.
constexpr size_t HmacTailBlocks(size_t num_blocks) { return num_blocks < 2 ? num_blocks : 2; }
constexpr size_t HmacTailOffset(size_t num_blocks) {
  return (num_blocks - HmacTailBlocks(num_blocks)) * 64;
}

struct HmacLaneGroup {
  const uint32_t* inner[kSha256MaxLanes];  // 8 words: the midstate after key ^ ipad
  const uint32_t* outer[kSha256MaxLanes];  // 8 words: the midstate after key ^ opad
  const uint8_t* head[kSha256MaxLanes];    // HmacTailOffset bytes, read in place (any alignment)
  const uint8_t* tail[kSha256MaxLanes];    // the other length - HmacTailOffset bytes
  uint32_t length[kSha256MaxLanes];        // the whole message's: ceil((length + 9) / 64) blocks
  uint8_t* mac[kSha256MaxLanes];           // 32 bytes out
};

// Each signs every lane of `group`: mac = HMAC-SHA256 of the message from the midstates.
// Every lane's message has num_blocks (1..kHmacMaxGroupBlocks) inner blocks.
using HmacLanesFn = void (*)(const HmacLaneGroup& group, size_t num_blocks);
inline constexpr size_t kHmacMaxGroupBlocks = 16;

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
