#include "signer/internal/cpu_features.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace sasmint::internal {
namespace {

constexpr CpuFeatureMask kAvx512All = kCpuAvx512F | kCpuAvx512Bw | kCpuAvx512Vl | kCpuAvx512Dq;

#if defined(__x86_64__)
// XCR0 bits (Intel SDM Vol. 1 §13.3): 1 = SSE (XMM), 2 = AVX (upper YMM), 5 = opmask,
// 6 = upper 256 bits of ZMM0-15, 7 = ZMM16-31.
constexpr uint64_t kXcr0Ymm = (1u << 1) | (1u << 2);
constexpr uint64_t kXcr0Zmm = kXcr0Ymm | (1u << 5) | (1u << 6) | (1u << 7);

uint64_t ReadXcr0() {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  if ((ecx & bit_OSXSAVE) == 0) return 0;  // XGETBV would fault.
  uint32_t lo = 0, hi = 0;
  // Inline asm rather than _xgetbv(), which needs -mxsave on this (generic-flags) file.
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

CpuFeatureMask DetectUncached() {
  __builtin_cpu_init();
  CpuFeatureMask mask = 0;
  if (__builtin_cpu_supports("ssse3")) mask |= kCpuSsse3;
  if (__builtin_cpu_supports("sse4.1")) mask |= kCpuSse41;
  if (__builtin_cpu_supports("avx2")) mask |= kCpuAvx2;
  if (__builtin_cpu_supports("avx512f")) mask |= kCpuAvx512F;
  if (__builtin_cpu_supports("avx512bw")) mask |= kCpuAvx512Bw;
  if (__builtin_cpu_supports("avx512vl")) mask |= kCpuAvx512Vl;
  if (__builtin_cpu_supports("avx512dq")) mask |= kCpuAvx512Dq;
  // GCC 12's __builtin_cpu_supports has no "sha": read CPUID leaf 7, subleaf 0, EBX bit 29.
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 29)) != 0) {
    mask |= kCpuSha;
  }
  // The runtimes already check OS support in __builtin_cpu_supports, but not uniformly across
  // versions: check XCR0 here so a kernel never touches register state the OS does not save.
  const uint64_t xcr0 = ReadXcr0();
  if ((xcr0 & kXcr0Ymm) != kXcr0Ymm) mask &= ~(kCpuAvx2 | kAvx512All);
  if ((xcr0 & kXcr0Zmm) != kXcr0Zmm) mask &= ~kAvx512All;
  return mask;
}
#else
CpuFeatureMask DetectUncached() { return 0; }
#endif

constexpr Isa kAllIsas[] = {Isa::kPortable, Isa::kShani, Isa::kAvx2, Isa::kAvx512};

}  // namespace

CpuFeatureMask DetectCpuFeatures() {
  static const CpuFeatureMask mask = DetectUncached();
  return mask;
}

std::string CpuFeaturesToString(CpuFeatureMask mask) {
  static constexpr struct {
    CpuFeatureMask bit;
    const char* name;
  } kNames[] = {{kCpuSsse3, "ssse3"},       {kCpuSse41, "sse4.1"},     {kCpuSha, "sha"},
                {kCpuAvx2, "avx2"},         {kCpuAvx512F, "avx512f"},  {kCpuAvx512Bw, "avx512bw"},
                {kCpuAvx512Vl, "avx512vl"}, {kCpuAvx512Dq, "avx512dq"}};
  std::string out;
  for (const auto& n : kNames) {
    if ((mask & n.bit) == 0) continue;
    if (!out.empty()) out += ' ';
    out += n.name;
  }
  return out.empty() ? "none" : out;
}

CpuFeatureMask RequiredFeatures(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return 0;
    case Isa::kShani:
      return kCpuSha | kCpuSse41 | kCpuSsse3;
    case Isa::kAvx2:
      return kCpuAvx2;
    case Isa::kAvx512:
      return kAvx512All;
  }
  return ~CpuFeatureMask{0};  // Not an Isa: supported nowhere.
}

bool IsaSupported(Isa isa, CpuFeatureMask features) {
  const CpuFeatureMask required = RequiredFeatures(isa);
  return (features & required) == required;
}

bool IsaSupported(Isa isa) { return IsaSupported(isa, DetectCpuFeatures()); }

Isa BestIsa(CpuFeatureMask features) {
  // Cycles per 64-byte block, measured on the Sapphire Rapids-class development CPU
  // (sha256_kernel_benchmark): AVX-512 x16 ~55, SHA-NI x2 ~96, AVX2 x8 ~146, portable ~830.
  // CPUs with SHA-NI but no AVX-512 (Zen, Ice Lake client) run SHA-NI at least as fast.
  for (Isa isa : {Isa::kAvx512, Isa::kShani, Isa::kAvx2}) {
    if (IsaSupported(isa, features)) return isa;
  }
  return Isa::kPortable;
}

Isa BestIsa() { return BestIsa(DetectCpuFeatures()); }

absl::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kShani:
      return "shani";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

absl::StatusOr<Isa> ParseIsa(absl::string_view name) {
  for (Isa isa : kAllIsas) {
    if (absl::EqualsIgnoreCase(name, IsaName(isa))) return isa;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", absl::CEscape(name), "' is not an ISA: expected portable, shani, avx2 or avx512"));
}

absl::StatusOr<Isa> SelectIsa(const char* env_value, CpuFeatureMask features) {
  if (env_value == nullptr || *env_value == '\0') return BestIsa(features);
  absl::StatusOr<Isa> isa = ParseIsa(env_value);
  if (!isa.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("SASMINT_ISA: ", isa.status().message()));
  }
  if (!IsaSupported(*isa, features)) {
    std::string usable;
    for (Isa other : kAllIsas) {
      if (IsaSupported(other, features)) absl::StrAppend(&usable, " ", IsaName(other));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "SASMINT_ISA=", IsaName(*isa), " asks for a kernel this CPU cannot run: it lacks ",
        CpuFeaturesToString(RequiredFeatures(*isa) & ~features), " (usable CPU features: ",
        CpuFeaturesToString(features), "). Unset SASMINT_ISA or choose one of:", usable));
  }
  return *isa;
}

absl::StatusOr<Isa> SelectIsa(const char* env_value) {
  return SelectIsa(env_value, DetectCpuFeatures());
}

}  // namespace sasmint::internal
