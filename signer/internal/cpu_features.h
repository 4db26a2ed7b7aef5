// cpu_features.h: which SHA-256 kernel family (ISA) this CPU can run, and the SASMINT_ISA override.
//
// Detection reads CPUID once (the first call) and also checks XGETBV, so an ISA counts as usable
// only when the CPU implements it and the OS saves its register state. Everything that decides
// takes an explicit feature mask as well, so tests can simulate any CPU. All functions are
// thread-safe.
#ifndef SASMINT_SIGNER_INTERNAL_CPU_FEATURES_H_
#define SASMINT_SIGNER_INTERNAL_CPU_FEATURES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/internal/isa.h"

namespace sasmint::internal {

// CpuFeatureMask is a bitwise OR of the usable features below.
using CpuFeatureMask = uint32_t;
inline constexpr CpuFeatureMask kCpuSsse3 = 1u << 0;
inline constexpr CpuFeatureMask kCpuSse41 = 1u << 1;
inline constexpr CpuFeatureMask kCpuSha = 1u << 2;       // SHA-NI (CPUID.7.0:EBX[29]).
inline constexpr CpuFeatureMask kCpuAvx2 = 1u << 3;      // Set only if the OS saves YMM state.
inline constexpr CpuFeatureMask kCpuAvx512F = 1u << 4;   // AVX-512 bits: set only if the OS
inline constexpr CpuFeatureMask kCpuAvx512Bw = 1u << 5;  // saves opmask and ZMM state too.
inline constexpr CpuFeatureMask kCpuAvx512Vl = 1u << 6;
inline constexpr CpuFeatureMask kCpuAvx512Dq = 1u << 7;

// DetectCpuFeatures returns the features this CPU and OS make usable (0 on non-x86 CPUs).
// Computed once and cached.
CpuFeatureMask DetectCpuFeatures();

// CpuFeaturesToString returns the features in `mask` as space-separated lowercase names
// ("ssse3 sse4.1 sha avx2 ..."), or "none".
std::string CpuFeaturesToString(CpuFeatureMask mask);

// RequiredFeatures returns the features the kernels of `isa` use (0 for kPortable).
CpuFeatureMask RequiredFeatures(Isa isa);

// IsaSupported returns whether every feature `isa` requires is in `features`.
bool IsaSupported(Isa isa, CpuFeatureMask features);
bool IsaSupported(Isa isa);  // On this CPU.

// BestIsa returns the fastest ISA that `features` supports, in the order measured on a
// Sapphire Rapids-class core (cycles per 64-byte block with full lanes): avx512 (16 lanes) >
// shani > avx2 (8 lanes) > portable. Never fails: portable is always supported.
Isa BestIsa(CpuFeatureMask features);
Isa BestIsa();  // On this CPU.

// IsaName returns "portable", "shani", "avx2" or "avx512".
absl::string_view IsaName(Isa isa);

// ParseIsa returns the Isa named `name` (one of IsaName's results, ASCII case-insensitive), or
// INVALID_ARGUMENT naming the accepted values.
absl::StatusOr<Isa> ParseIsa(absl::string_view name);

// SelectIsa returns the ISA to run given the value of SASMINT_ISA (`env_value`, null or empty
// when unset): BestIsa(features) when unset, otherwise the named ISA. Returns INVALID_ARGUMENT
// for an unknown name and FAILED_PRECONDITION, naming the missing features, when `features`
// lacks what the named ISA needs.
absl::StatusOr<Isa> SelectIsa(const char* env_value, CpuFeatureMask features);
absl::StatusOr<Isa> SelectIsa(const char* env_value);  // On this CPU.

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_CPU_FEATURES_H_
