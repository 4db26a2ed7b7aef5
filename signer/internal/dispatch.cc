// The table of compiled SHA-256 lane kernels. This file is built with the default flags: it
// only takes the kernels' addresses and never runs ISA-specific code itself.
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {
namespace {

template <int kLanes>
void CompressPortableX(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks) {
  Sha256CompressPortable(kLanes, state, blocks, num_blocks);
}

template <int kLanes>
void CompressWordsPortableX(uint32_t* state, const uint32_t* words) {
  Sha256CompressWordsPortable(kLanes, state, words);
}

constexpr Sha256LaneKernel kKernels[] = {
    {Isa::kPortable, 1, "portable_x1", &CompressPortableX<1>, &CompressWordsPortableX<1>},
    {Isa::kPortable, 16, "portable_x16", &CompressPortableX<16>, &CompressWordsPortableX<16>},
    {Isa::kShani, 1, "shani_x1", &Sha256CompressX1Shani, &Sha256CompressWordsX1Shani},
    {Isa::kShani, 2, "shani_x2", &Sha256CompressX2Shani, &Sha256CompressWordsX2Shani},
    {Isa::kShani, 4, "shani_x4", &Sha256CompressX4Shani, &Sha256CompressWordsX4Shani},
    {Isa::kAvx2, 8, "avx2_x8", &Sha256CompressX8Avx2, &Sha256CompressWordsX8Avx2},
    {Isa::kAvx512, 16, "avx512_x16", &Sha256CompressX16Avx512, &Sha256CompressWordsX16Avx512},
};

}  // namespace

absl::Span<const Sha256LaneKernel> Sha256LaneKernels() { return kKernels; }

const Sha256LaneKernel* FindSha256LaneKernel(Isa isa, int lanes) {
  for (const Sha256LaneKernel& k : kKernels) {
    if (k.isa == isa && k.lanes == lanes) return &k;
  }
  return nullptr;
}

}  // namespace sasmint::internal
