// Portable lane kernels: the structure-of-arrays plumbing around Sha256CompressBlocks, which is
// the reference every SIMD kernel is tested against.
#include <cstddef>
#include <cstdint>

#include "signer/crypto_backend.h"
#include "signer/internal/sha256_kernel.h"
#include "signer/sha256.h"

namespace sasmint::internal {

void Sha256CompressPortable(int lanes, uint32_t* state, const uint8_t* const* blocks,
                            size_t num_blocks) {
  for (int lane = 0; lane < lanes; ++lane) {
    Sha256State s;
    for (int w = 0; w < 8; ++w) s[w] = state[w * lanes + lane];
    Sha256CompressBlocks(s, blocks[lane], num_blocks);
    for (int w = 0; w < 8; ++w) state[w * lanes + lane] = s[w];
    crypto::Cleanse(s.data(), sizeof(s));
  }
}

void Sha256CompressWordsPortable(int lanes, uint32_t* state, const uint32_t* words) {
  for (int lane = 0; lane < lanes; ++lane) {
    uint8_t block[kSha256BlockSize];
    for (int t = 0; t < 16; ++t) {
      const uint32_t v = words[t * lanes + lane];
      block[4 * t + 0] = static_cast<uint8_t>(v >> 24);
      block[4 * t + 1] = static_cast<uint8_t>(v >> 16);
      block[4 * t + 2] = static_cast<uint8_t>(v >> 8);
      block[4 * t + 3] = static_cast<uint8_t>(v);
    }
    Sha256State s;
    for (int w = 0; w < 8; ++w) s[w] = state[w * lanes + lane];
    Sha256CompressBlocks(s, block, 1);
    for (int w = 0; w < 8; ++w) state[w * lanes + lane] = s[w];
    crypto::Cleanse(s.data(), sizeof(s));
    crypto::Cleanse(block, sizeof(block));
  }
}

}  // namespace sasmint::internal
