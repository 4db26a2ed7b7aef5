// isa.h: Isa, the name of a SHA-256 kernel family. Its own header so that the ISA-specific
// kernel files can see it without pulling in Abseil's Status headers, whose <iostream> adds a
// static initializer, which would then be compiled with AVX-512 flags and run on every CPU.
#ifndef SASMINT_SIGNER_INTERNAL_ISA_H_
#define SASMINT_SIGNER_INTERNAL_ISA_H_

namespace sasmint::internal {

// Isa names a kernel family. The numeric order means nothing; see BestIsa (cpu_features.h) for
// preference.
enum class Isa { kPortable, kShani, kAvx2, kAvx512 };

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_ISA_H_
