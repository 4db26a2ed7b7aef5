// hmac_kernel_plan.h: which SHA-256 lane kernels (sha256_kernel.h) a BatchSigner runs
// (internal): one wide kernel for full groups, the cheapest cover of the jobs left over at the
// end of a batch under a measured cost model (so that one leftover token never pays for 16
// lanes), and a one-lane kernel for messages too long for the fast path. A plan is an
// immutable value; the functions are thread-safe.
#ifndef SASMINT_SIGNER_INTERNAL_HMAC_KERNEL_PLAN_H_
#define SASMINT_SIGNER_INTERNAL_HMAC_KERNEL_PLAN_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/hmac_lanes.h"
#include "signer/internal/sha256_kernel.h"
#include "signer/internal/token_text.h"
#include "signer/sha256.h"

namespace sasmint::internal {

// Messages of up to kHmacFastMaxLength bytes (kHmacFastMaxBlocks inner blocks with padding)
// take the lane kernels; longer ones the one-lane path.
inline constexpr size_t kHmacFastMaxBlocks = kHmacMaxGroupBlocks;
inline constexpr size_t kHmacFastMaxLength = kHmacFastMaxBlocks * kSha256BlockSize - 9;

// kPrefetchAhead: how many jobs ahead key state is prefetched (one AVX-512 group).
inline constexpr size_t kPrefetchAhead = 16;

struct HmacKernelPlan {
  Isa isa = Isa::kPortable;
  // full signs every group of full->lanes jobs.
  const HmacLaneKernel* full = nullptr;
  // leftover[r] signs the first min(r, lanes) of r < full->lanes jobs left in a bucket at the
  // end of a batch (then leftover[r - lanes], and so on): the cheapest cover of r jobs by the
  // plan's kernels under KernelCost (hmac_kernel_plan.cc).
  const HmacLaneKernel* leftover[kSha256MaxLanes] = {};
  // write_signature writes the token's escaped signature: AVX2 where the CPU has it, except
  // in the portable plan.
  EscapedSignatureFn write_signature = nullptr;
  // single (one lane) hashes messages longer than kHmacFastMaxLength.
  const Sha256LaneKernel* single = nullptr;
};

// MakeHmacKernelPlan returns the plan for `isa` on a CPU with `features`: `isa`'s widest
// kernel for full groups; for leftovers also SHA-NI x2 / x1 when `isa` is avx512 and the CPU
// has SHA-NI (otherwise AVX2 x8, then portable), so that, e.g., SASMINT_ISA=avx2 never runs
// SHA-NI (valgrind cannot). FAILED_PRECONDITION naming the missing features when `features`
// lacks `isa`.
absl::StatusOr<HmacKernelPlan> MakeHmacKernelPlan(Isa isa, CpuFeatureMask features);

// DescribeHmacKernelPlan returns e.g. "avx512 (groups: avx512_x16; leftovers: shani_x1
// shani_x2 avx512_x16; long messages: shani_x1)", for logs.
std::string DescribeHmacKernelPlan(const HmacKernelPlan& plan);

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_HMAC_KERNEL_PLAN_H_
