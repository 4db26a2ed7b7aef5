// token_text.h: allocation-free writers for the pieces of SAS token text (internal to
// BatchSigner::MintBatch). Each writes at `out` and returns the end of what it wrote; the
// caller sizes the buffer with the k...Max constants. Output is byte-identical to
// sas_token.h's FormatToken / StringToSign. All functions are thread-safe. Included by the
// AVX2 file too: nothing here may have a static initializer.
#ifndef SASMINT_SIGNER_INTERNAL_TOKEN_TEXT_H_
#define SASMINT_SIGNER_INTERNAL_TOKEN_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace sasmint::internal {

// kTokenPrefix and the separators of the token format (docs/design.md §2).
inline constexpr absl::string_view kTokenPrefix = "SharedAccessSignature sr=";
inline constexpr absl::string_view kTokenSig = "&sig=";
inline constexpr absl::string_view kTokenSe = "&se=";
inline constexpr absl::string_view kTokenSkn = "&skn=";

// kEscapedSignatureMax: 43 base64 characters that may each become "%2B" or "%2F", then "%3D".
inline constexpr size_t kEscapedSignatureMax = 43 * 3 + 3;
// kEscapedSignatureSlack: how far past its result a signature writer may store (bytes the
// caller overwrites next or ignores).
inline constexpr size_t kEscapedSignatureSlack = 16;

// An EscapedSignatureFn writes base64 of the 32-byte MAC at `mac` with '+', '/' and '=' written
// as %2B, %2F, %3D, and returns the end of the text.
using EscapedSignatureFn = char* (*)(const uint8_t* mac, char* out);

// WriteEscapedSignature is the portable writer (stores nothing past its result);
// WriteEscapedSignatureAvx2 (token_text_avx2.cc; call only if IsaSupported(Isa::kAvx2)) is
// twice as fast.
char* WriteEscapedSignature(const uint8_t* mac, char* out);
char* WriteEscapedSignatureAvx2(const uint8_t* mac, char* out);

// PutBytes copies `n` bytes to `out` and returns out + n: inline fixed-size moves (the
// strings of a token are short; a call to memcpy costs more than the copy).
inline char* PutBytes(const char* src, size_t n, char* out) {
  if (n >= 16) {
    for (size_t k = 0; k + 16 < n; k += 16) std::memcpy(out + k, src + k, 16);
    std::memcpy(out + n - 16, src + n - 16, 16);  // overlaps the last chunk
  } else if (n >= 8) {
    std::memcpy(out, src, 8);
    std::memcpy(out + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(out, src, 4);
    std::memcpy(out + n - 4, src + n - 4, 4);
  } else {
    for (size_t k = 0; k < n; ++k) out[k] = src[k];
  }
  return out + n;
}
inline char* PutBytes(absl::string_view s, char* out) { return PutBytes(s.data(), s.size(), out); }

// kDecimalMax: the digits of any int64_t, with its sign.
inline constexpr size_t kDecimalMax = 20;

// WriteDecimal writes `value` in decimal (a '-' first if negative), as absl::StrAppend does.
char* WriteDecimal(int64_t value, char* out);

// PercentEncodedMax returns the largest size PercentEncode can produce for `n` bytes.
constexpr size_t PercentEncodedMax(size_t n) { return 3 * n; }

// WritePercentEncoded writes PercentEncode(text) (encoding.h).
char* WritePercentEncoded(absl::string_view text, char* out);

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_TOKEN_TEXT_H_
