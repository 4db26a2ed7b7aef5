// crypto_backend.h: the small shim over the linked crypto library (OpenSSL 3 or BoringSSL).
//
// signer/ does its own SHA-256 and HMAC; the library provides only what must not be home-made or
// what tests compare against: the HMAC oracle, random bytes, cleansing, constant-time compare, and
// AES-256-GCM for keys at rest outside the process. Only API present in both libraries is used
// (one-shot HMAC(), RAND_bytes, OPENSSL_cleanse, CRYPTO_memcmp, EVP_aes_256_gcm). All functions
// are thread-safe.
#ifndef SASMINT_SIGNER_CRYPTO_BACKEND_H_
#define SASMINT_SIGNER_CRYPTO_BACKEND_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sasmint::crypto {

// BackendName returns "openssl" or "boringssl" (the library this binary links).
absl::string_view BackendName();

// OracleHmacSha256 returns HMAC-SHA256(key, message) computed by the crypto library's one-shot
// HMAC(). Used by tests and benchmarks as the independent reference; never on the fast path.
std::array<uint8_t, 32> OracleHmacSha256(absl::Span<const uint8_t> key,
                                         absl::Span<const uint8_t> message);

// OracleSha256 returns SHA-256(message) from the crypto library.
std::array<uint8_t, 32> OracleSha256(absl::Span<const uint8_t> message);

// RandomBytes fills `out` from the library's CSPRNG; returns INTERNAL if it fails.
absl::Status RandomBytes(absl::Span<uint8_t> out);

// Cleanse overwrites `size` bytes at `p` with zeros in a way the compiler cannot elide.
void Cleanse(void* p, size_t size);

// ConstantTimeEquals returns whether a and b are equal, in time independent of their contents
// (lengths are not secret: different lengths return false at once).
bool ConstantTimeEquals(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b);

inline constexpr size_t kAesGcmKeySize = 32;
inline constexpr size_t kAesGcmNonceSize = 12;
inline constexpr size_t kAesGcmTagSize = 16;

// Aes256GcmSeal returns AES-256-GCM(key, nonce) of `plaintext` with `aad` authenticated: the
// ciphertext followed by the 16-byte tag. The nonce must never repeat under one key (callers
// draw it from RandomBytes). INVALID_ARGUMENT for a key or nonce of the wrong size; INTERNAL if
// the library fails.
absl::StatusOr<std::string> Aes256GcmSeal(absl::Span<const uint8_t> key,
                                          absl::Span<const uint8_t> nonce, absl::string_view aad,
                                          absl::string_view plaintext);

// Aes256GcmOpen checks and decrypts what Aes256GcmSeal returned, writing the plaintext to `out`
// (cleared first). DATA_LOSS if the tag does not match (wrong key, nonce or aad, or altered
// bytes) or the input is shorter than a tag; INVALID_ARGUMENT for a key or nonce of the wrong
// size.
absl::Status Aes256GcmOpen(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce,
                           absl::string_view aad, absl::string_view sealed, std::string* out);

}  // namespace sasmint::crypto

#endif  // SASMINT_SIGNER_CRYPTO_BACKEND_H_
