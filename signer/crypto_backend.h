// crypto_backend.h: the small shim over the linked crypto library (OpenSSL 3 or BoringSSL).
//
// signer/ does its own SHA-256 and HMAC; the library provides only what must not be home-made or
// what tests compare against: the HMAC oracle, random bytes, cleansing and constant-time compare.
// Only API present in both libraries is used (one-shot HMAC(), RAND_bytes, OPENSSL_cleanse,
// CRYPTO_memcmp). All functions are thread-safe.
#ifndef SASMINT_SIGNER_CRYPTO_BACKEND_H_
#define SASMINT_SIGNER_CRYPTO_BACKEND_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
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

}  // namespace sasmint::crypto

#endif  // SASMINT_SIGNER_CRYPTO_BACKEND_H_
