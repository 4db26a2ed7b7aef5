// AVX2 writer of the escaped base64 signature (token_text.h): the base64 encoding of Muła and
// Lemire ("Faster Base64 Encoding and Decoding Using AVX2 Instructions", ACM TWEB 2018), then
// '+' and '/' found with one compare each and escaped run by run. Compiled with the AVX2
// kernel's flags (its object library); call only when IsaSupported(Isa::kAvx2). Includes
// nothing with a static initializer.
#include "signer/internal/token_text.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sasmint::internal {
namespace {

// Reshuffle spreads the 12 bytes at the start of each 128-bit half into 16 6-bit values, one
// per byte (digit order).
inline __m256i Reshuffle(__m256i in) {
  in = _mm256_shuffle_epi8(in, _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                                1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10));
  const __m256i t0 = _mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00));
  const __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
  const __m256i t2 = _mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0));
  const __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
  return _mm256_or_si256(t1, t3);
}

// Translate maps 6-bit values to the standard alphabet (A-Z a-z 0-9 + /).
inline __m256i Translate(__m256i in) {
  const __m256i offsets =
      _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0, 65, 71, -4,
                       -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
  __m256i index = _mm256_subs_epu8(in, _mm256_set1_epi8(51));
  index = _mm256_sub_epi8(index, _mm256_cmpgt_epi8(in, _mm256_set1_epi8(25)));
  return _mm256_add_epi8(in, _mm256_shuffle_epi8(offsets, index));
}

inline uint32_t Specials(__m256i digits) {
  const __m256i plus = _mm256_cmpeq_epi8(digits, _mm256_set1_epi8('+'));
  const __m256i slash = _mm256_cmpeq_epi8(digits, _mm256_set1_epi8('/'));
  return static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_or_si256(plus, slash)));
}

}  // namespace

char* WriteEscapedSignatureAvx2(const uint8_t* mac, char* out) {
  // Digits 0..31 from bytes 0..23 (12 per half), digits 32..42 from bytes 24..31.
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mac));
  const __m128i b12 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mac + 12));
  const __m128i b24 =
      _mm_srli_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mac + 16)), 8);
  const __m256i lo = Translate(Reshuffle(_mm256_setr_m128i(b0, b12)));
  const __m256i hi = Translate(Reshuffle(_mm256_castsi128_si256(b24)));
  uint64_t special = Specials(lo) | (uint64_t{Specials(hi)} << 32);
  special &= (uint64_t{1} << 43) - 1;
  if (special == 0) {  // one signature in four: no escapes
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), lo);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32), _mm256_castsi256_si128(hi));
    std::memcpy(out + 43, "%3D", 3);
    _mm256_zeroupper();
    return out + 46;
  }
  alignas(32) char digits[96];
  _mm256_store_si256(reinterpret_cast<__m256i*>(digits), lo);
  _mm256_store_si256(reinterpret_cast<__m256i*>(digits + 32), hi);
  _mm256_store_si256(reinterpret_cast<__m256i*>(digits + 64), _mm256_setzero_si256());
  // Runs between escapes in 16-byte moves (up to 15 bytes of slack past each run).
  size_t from = 0;
  for (;;) {
    const size_t at = special != 0 ? static_cast<size_t>(__builtin_ctzll(special)) : 43;
    for (size_t k = from; k < at; k += 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (k - from)),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(digits + k)));
    }
    out += at - from;
    if (at == 43) break;
    std::memcpy(out, digits[at] == '+' ? "%2B" : "%2F", 3);
    out += 3;
    from = at + 1;
    special &= special - 1;
  }
  std::memcpy(out, "%3D", 3);
  _mm256_zeroupper();
  return out + 3;
}

}  // namespace sasmint::internal

#else  // !defined(__x86_64__): never selected (IsaSupported is false); portable stand-in.

namespace sasmint::internal {
char* WriteEscapedSignatureAvx2(const uint8_t* mac, char* out) {
  return WriteEscapedSignature(mac, out);
}
}  // namespace sasmint::internal

#endif  // defined(__x86_64__)
