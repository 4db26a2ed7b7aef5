// macros.h: the few preprocessor macros shared across the project.
//
// SASMINT_ALWAYS_INLINE forces inlining of the small helpers of SIMD kernels, where a call would
// spill vector registers (and, for key state, leave copies on the stack). SASMINT_CONCAT pastes
// two tokens after expanding them (unique names for macro temporaries, with __LINE__).
#ifndef SASMINT_COMMON_MACROS_H_
#define SASMINT_COMMON_MACROS_H_

#define SASMINT_ALWAYS_INLINE inline __attribute__((always_inline))

#define SASMINT_CONCAT_INNER_(x, y) x##y
#define SASMINT_CONCAT(x, y) SASMINT_CONCAT_INNER_(x, y)

#endif  // SASMINT_COMMON_MACROS_H_
