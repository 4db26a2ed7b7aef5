// The portable group functions (the reference for the ISA ones) and the table of all of them.
// Generic flags: this file only takes the ISA functions' addresses.
#include "signer/internal/hmac_lanes.h"

#include <cstddef>
#include <cstdint>

#include "signer/internal/hmac_lanes_inl.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {
namespace {

template <int kLanes>
void HmacLanesPortable(const HmacLaneGroup& g, size_t num_blocks) {
  alignas(64) uint32_t words[16 * kLanes];
  alignas(64) uint32_t outer[8 * kLanes];
  alignas(64) uint8_t blocks[kLanes][2 * 64];
  const uint8_t* ptrs[kLanes];
  const size_t offset = HmacTailOffset(num_blocks);
  const size_t tail_blocks = HmacTailBlocks(num_blocks);
  for (int l = 0; l < kLanes; ++l) {
    WritePaddedBlocks(blocks[l], g.tail[l], g.length[l] - offset, tail_blocks, g.length[l]);
    ptrs[l] = blocks[l];
    for (int w = 0; w < 8; ++w) {
      words[w * kLanes + l] = g.inner[l][w];
      outer[w * kLanes + l] = g.outer[l][w];
      words[(8 + w) * kLanes + l] = w == 0 ? kOuterPaddingWord8 : w == 7 ? kOuterBitLength : 0;
    }
  }
  if (offset > 0) Sha256CompressPortable(kLanes, words, g.head, num_blocks - tail_blocks);
  Sha256CompressPortable(kLanes, words, ptrs, tail_blocks);
  Sha256CompressWordsPortable(kLanes, outer, words);
  for (int l = 0; l < kLanes; ++l) {
    for (int w = 0; w < 8; ++w) {
      const uint32_t v = outer[w * kLanes + l];
      g.mac[l][4 * w + 0] = static_cast<uint8_t>(v >> 24);
      g.mac[l][4 * w + 1] = static_cast<uint8_t>(v >> 16);
      g.mac[l][4 * w + 2] = static_cast<uint8_t>(v >> 8);
      g.mac[l][4 * w + 3] = static_cast<uint8_t>(v);
    }
  }
  WipeStack(words, sizeof(words));
  WipeStack(outer, sizeof(outer));
}

constexpr HmacLaneKernel kHmacLaneKernels[] = {
    {Isa::kPortable, 1, "portable_x1", &HmacLanesPortableX1},
    {Isa::kPortable, 16, "portable_x16", &HmacLanesPortableX16},
    {Isa::kShani, 1, "shani_x1", &HmacLanesX1Shani},
    {Isa::kShani, 2, "shani_x2", &HmacLanesX2Shani},
    {Isa::kAvx2, 8, "avx2_x8", &HmacLanesX8Avx2},
    {Isa::kAvx512, 16, "avx512_x16", &HmacLanesX16Avx512},
};

}  // namespace

void HmacLanesPortableX1(const HmacLaneGroup& group, size_t num_blocks) {
  HmacLanesPortable<1>(group, num_blocks);
}

void HmacLanesPortableX16(const HmacLaneGroup& group, size_t num_blocks) {
  HmacLanesPortable<16>(group, num_blocks);
}

const HmacLaneKernel* FindHmacLaneKernel(Isa isa, int lanes) {
  for (const HmacLaneKernel& k : kHmacLaneKernels) {
    if (k.isa == isa && k.lanes == lanes) return &k;
  }
  return nullptr;
}

}  // namespace sasmint::internal
