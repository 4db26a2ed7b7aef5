// encoding.h: the text encodings of SAS tokens: base64 (RFC 4648 §4) and percent-encoding.
//
// Decoding is strict: only canonical base64 (standard alphabet, `=` padding to a multiple of 4,
// zero trailing bits) and well-formed `%XX` escapes are accepted. Error messages give offsets,
// never the offending text, because the text may be a key. All functions are thread-safe.
#ifndef SASMINT_SIGNER_ENCODING_H_
#define SASMINT_SIGNER_ENCODING_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "signer/secret_bytes.h"

namespace sasmint {

// Base64Encode returns the standard base64 encoding of `data`, with `=` padding.
std::string Base64Encode(absl::Span<const uint8_t> data);

// Base64EncodedSize returns the length Base64Encode produces for `n` bytes.
constexpr size_t Base64EncodedSize(size_t n) { return (n + 2) / 3 * 4; }

// Base64EncodeTo writes Base64EncodedSize(data.size()) characters at `out`. No allocation.
void Base64EncodeTo(absl::Span<const uint8_t> data, char* out);

// Base64Decode returns the bytes of canonical base64 `text`; INVALID_ARGUMENT (naming `what`
// and an offset) if it is empty, has a character outside the alphabet, bad padding or non-zero
// trailing bits.
absl::StatusOr<std::string> Base64Decode(absl::string_view text, absl::string_view what = "value");

// Base64DecodeTo decodes canonical base64 `text` into `out` (which must hold at least
// text.size() / 4 * 3 bytes) and returns the decoded length; errors as Base64Decode. For bulk
// loading without an allocation per key.
absl::StatusOr<size_t> Base64DecodeTo(absl::string_view text, absl::string_view what,
                                      absl::Span<uint8_t> out);

// DecodeBase64Key is Base64Decode into wiped-on-destruction storage; `what` names the key in
// errors (e.g. "primary key"). It does not check the key length (see ValidateKeyLength).
absl::StatusOr<SecretBytes> DecodeBase64Key(absl::string_view text, absl::string_view what = "key");

// kMinKeyBytes / kMaxKeyBytes: IoT Hub and DPS accept symmetric keys of 16 to 64 decoded bytes.
inline constexpr size_t kMinKeyBytes = 16;
inline constexpr size_t kMaxKeyBytes = 64;

// ValidateKeyLength returns INVALID_ARGUMENT unless kMinKeyBytes <= key.size() <= kMaxKeyBytes.
absl::Status ValidateKeyLength(const SecretBytes& key, absl::string_view what = "key");

// PercentEncode returns `text` with every byte outside A-Z a-z 0-9 - . _ ~ written as %XX with
// uppercase hex (RFC 3986 unreserved set; docs/design.md §2). UTF-8 passes through byte by byte.
std::string PercentEncode(absl::string_view text);

// PercentEncodeTo appends PercentEncode(text) to *out.
void PercentEncodeTo(absl::string_view text, std::string* out);

// HexDigitValue returns the value (0-15) of a hex digit of either case, or -1.
int HexDigitValue(char c);

// PercentDecode returns `text` with every %XX escape (either hex case) decoded; `+` is kept as
// `+`. INVALID_ARGUMENT with the offset of a truncated or non-hex escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, absl::string_view what = "value");

}  // namespace sasmint

#endif  // SASMINT_SIGNER_ENCODING_H_
