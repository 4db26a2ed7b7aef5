// sha256_kernel.h: SHA-256 compression kernels that hash one block for each of several
// independent lanes per step (multi-buffer), one family per ISA, plus the table that names them.
//
// Every kernel shares one contract, so callers (BatchSigner) and the typed test treat them alike:
//
//   state   8 x kLanes words in structure-of-arrays layout: state[w * kLanes + lane] is word
//           H_w (FIPS 180-4 §6.2) of `lane`. Read, then overwritten with the new chaining value.
//           Align it to 64 bytes (kernels use unaligned loads, but a split line costs time).
//   blocks  kLanes pointers: lane i hashes the `num_blocks` consecutive 64-byte blocks at
//           blocks[i] (any alignment). Every lane always runs: fill unused lanes with any valid
//           block and ignore their state. Pointers may alias one another, never `state`.
//   words   (compress_words) one 64-byte block per lane as 16 host-order message words in
//           structure-of-arrays layout: words[t * kLanes + lane] is W_t of `lane`; must not
//           alias `state`. An HMAC outer block (inner state words, 0x80000000, zeros, bit
//           length 768) goes in without a byte transpose: give the inner compress() the first
//           8 rows of the words buffer as its state, with rows 8..15 preset, and no copy is made.
//
// The AVX kernels end with vzeroupper so SSE code (SHA-NI) never runs with dirty upper state.
// Kernels do not check the CPU: call one only if IsaSupported(kernel.isa) (cpu_features.h).
// The ISA files include nothing with a static initializer (no <iostream>, no absl Status):
// it would be compiled with their flags and run at start-up on every CPU.
// Kernels are thread-safe (no shared state). They do not wipe spilled message words or
// state from the stack; callers that care about residue must do so themselves.
#ifndef SASMINT_SIGNER_INTERNAL_SHA256_KERNEL_H_
#define SASMINT_SIGNER_INTERNAL_SHA256_KERNEL_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "signer/internal/isa.h"

namespace sasmint::internal {

inline constexpr int kSha256MaxLanes = 16;

using Sha256CompressFn = void (*)(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
using Sha256CompressWordsFn = void (*)(uint32_t* state, const uint32_t* words);

// Sha256CompressPortable and Sha256CompressWordsPortable run Sha256CompressBlocks for each of
// `lanes` lanes (1..kSha256MaxLanes): scalar, any CPU, the reference for all the others.
void Sha256CompressPortable(int lanes, uint32_t* state, const uint8_t* const* blocks,
                            size_t num_blocks);
void Sha256CompressWordsPortable(int lanes, uint32_t* state, const uint32_t* words);

// SHA-NI: 1, 2 or 4 independent streams interleaved round by round to hide the latency of
// sha256rnds2; two streams already reach its issue rate. With one lane the state layout equals
// Sha256State.
void Sha256CompressX1Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
void Sha256CompressX2Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
void Sha256CompressX4Shani(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
void Sha256CompressWordsX1Shani(uint32_t* state, const uint32_t* words);
void Sha256CompressWordsX2Shani(uint32_t* state, const uint32_t* words);
void Sha256CompressWordsX4Shani(uint32_t* state, const uint32_t* words);

// AVX2: 8 lanes, one per 32-bit element of a YMM register.
void Sha256CompressX8Avx2(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
void Sha256CompressWordsX8Avx2(uint32_t* state, const uint32_t* words);

// AVX-512 (F, BW, VL, DQ): 16 lanes, one per 32-bit element of a ZMM register; rotations with
// vprord, Ch/Maj/XOR3 with vpternlogd. Blocks enter by a 16x16 word transpose in registers
// (128-bit inserts from memory, then in-lane unpacks).
void Sha256CompressX16Avx512(uint32_t* state, const uint8_t* const* blocks, size_t num_blocks);
void Sha256CompressWordsX16Avx512(uint32_t* state, const uint32_t* words);
// Sha256CompressX16Avx512Gather is the same kernel loading blocks with vpgatherqd instead of
// the transpose. Slower on Sapphire Rapids; kept so the benchmark can show it.
void Sha256CompressX16Avx512Gather(uint32_t* state, const uint8_t* const* blocks,
                                   size_t num_blocks);

// Sha256LaneKernel describes one kernel for the dispatcher, tests and benchmarks.
struct Sha256LaneKernel {
  Isa isa;
  int lanes;
  const char* name;  // "<isa>_x<lanes>", e.g. "avx512_x16".
  Sha256CompressFn compress;
  Sha256CompressWordsFn compress_words;
};

// Sha256LaneKernels returns every kernel compiled into this binary (on non-x86 builds the
// x86 entries still exist but are never supported), portable first, including kernels
// this CPU cannot run.
absl::Span<const Sha256LaneKernel> Sha256LaneKernels();

// FindSha256LaneKernel returns the kernel of `isa` with `lanes` lanes, or null if none.
const Sha256LaneKernel* FindSha256LaneKernel(Isa isa, int lanes);

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_SHA256_KERNEL_H_
