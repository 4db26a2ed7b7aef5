#include "signer/internal/hmac_kernel_plan.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/hmac_lanes.h"
#include "signer/internal/sha256_kernel.h"

namespace sasmint::internal {
namespace {

// KernelCost returns the time of one call of `k` over one block per lane, in nanoseconds,
// measured with sha256_kernel_benchmark on the Sapphire Rapids-class development CPU (BM_Compress,
// independent calls). Only the ratios matter: they pick the cheapest cover of leftover jobs.
// A call costs the same whether its lanes are full or not, which is why 16 lanes of AVX-512
// lose to SHA-NI for a few jobs.
uint32_t KernelCost(const HmacLaneKernel& k) {
  switch (k.isa) {
    case Isa::kPortable:
      return 280 * static_cast<uint32_t>(k.lanes);
    case Isa::kShani:
      return k.lanes == 1 ? 42 : k.lanes == 2 ? 65 : 143;
    case Isa::kAvx2:
      return 394;
    case Isa::kAvx512:
      return 300;
  }
  return UINT32_MAX / 64;
}

const HmacLaneKernel* Group(Isa isa, int lanes) {
  const HmacLaneKernel* k = FindHmacLaneKernel(isa, lanes);
  if (k == nullptr) {
    // The kernel tables and this file disagree: a build error, not an input.
    __builtin_trap();
  }
  return k;
}

const Sha256LaneKernel* Single(Isa isa) {
  const Sha256LaneKernel* k = FindSha256LaneKernel(isa, 1);
  if (k == nullptr) {
    // The kernel table (dispatch.cc) and this file disagree: a build error, not an input.
    __builtin_trap();
  }
  return k;
}

}  // namespace

absl::StatusOr<HmacKernelPlan> MakeHmacKernelPlan(Isa isa, CpuFeatureMask features) {
  if (!IsaSupported(isa, features)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "BatchSigner: ISA ", IsaName(isa), " needs ", CpuFeaturesToString(RequiredFeatures(isa)),
        " but this CPU lacks ", CpuFeaturesToString(RequiredFeatures(isa) & ~features),
        " (usable CPU features: ", CpuFeaturesToString(features), ")"));
  }
  HmacKernelPlan plan;
  plan.isa = isa;
  std::vector<const HmacLaneKernel*> candidates;
  const HmacLaneKernel* portable1 = Group(Isa::kPortable, 1);
  plan.single = Single(Isa::kPortable);
  switch (isa) {
    case Isa::kPortable:
      plan.full = Group(Isa::kPortable, 16);
      candidates = {portable1};
      break;
    case Isa::kShani:
      // Two streams reach sha256rnds2's issue rate; four only spill (sha256_shani.cc).
      plan.full = Group(Isa::kShani, 2);
      plan.single = Single(Isa::kShani);
      candidates = {plan.full, Group(Isa::kShani, 1)};
      break;
    case Isa::kAvx2:
      plan.full = Group(Isa::kAvx2, 8);
      candidates = {plan.full, portable1};
      break;
    case Isa::kAvx512:
      plan.full = Group(Isa::kAvx512, 16);
      candidates = {plan.full};
      if (IsaSupported(Isa::kShani, features)) {
        plan.single = Single(Isa::kShani);
        candidates.push_back(Group(Isa::kShani, 2));
        candidates.push_back(Group(Isa::kShani, 1));
      } else {
        if (IsaSupported(Isa::kAvx2, features)) candidates.push_back(Group(Isa::kAvx2, 8));
        candidates.push_back(portable1);
      }
      break;
  }
  plan.write_signature = isa != Isa::kPortable && IsaSupported(Isa::kAvx2, features)
                             ? &WriteEscapedSignatureAvx2
                             : &WriteEscapedSignature;
  // cost[r]: the cheapest cover of r jobs, each call taking up to its kernel's lanes.
  uint64_t cost[kSha256MaxLanes] = {};
  for (int r = 1; r < plan.full->lanes; ++r) {
    cost[r] = UINT64_MAX;
    for (const HmacLaneKernel* k : candidates) {
      const uint64_t c = KernelCost(*k) + cost[r > k->lanes ? r - k->lanes : 0];
      if (c < cost[r]) {
        cost[r] = c;
        plan.leftover[r] = k;
      }
    }
  }
  return plan;
}

std::string DescribeHmacKernelPlan(const HmacKernelPlan& plan) {
  std::string leftovers;
  for (int r = 1; r < plan.full->lanes; ++r) {
    const char* name = plan.leftover[r]->name;
    if (leftovers.find(name) == std::string::npos) {
      absl::StrAppend(&leftovers, leftovers.empty() ? "" : " ", name);
    }
  }
  return absl::StrCat(IsaName(plan.isa), " (groups: ", plan.full->name,
                      "; leftovers: ", leftovers.empty() ? "none" : leftovers,
                      "; long messages: ", plan.single->name, ")");
}

}  // namespace sasmint::internal
