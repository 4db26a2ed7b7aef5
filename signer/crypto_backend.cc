#include "signer/crypto_backend.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>
#if defined(SASMINT_CRYPTO_BORINGSSL)
#include <openssl/mem.h>  // BoringSSL keeps OPENSSL_cleanse and CRYPTO_memcmp here.
#endif
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace sasmint::crypto {

absl::string_view BackendName() {
#if defined(SASMINT_CRYPTO_BORINGSSL)
  return "boringssl";
#else
  return "openssl";
#endif
}

std::array<uint8_t, 32> OracleHmacSha256(absl::Span<const uint8_t> key,
                                         absl::Span<const uint8_t> message) {
  std::array<uint8_t, 32> out{};
  unsigned int out_len = 0;
  // HMAC() with a null key pointer fails in OpenSSL 3 even for length 0; point at a dummy byte.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  const uint8_t* msg_ptr = message.empty() ? &kEmpty : message.data();
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), msg_ptr, message.size(), out.data(),
           &out_len) == nullptr ||
      out_len != out.size()) {
    abort();  // The oracle cannot fail on valid arguments: a broken library is a broken invariant.
  }
  return out;
}

std::array<uint8_t, 32> OracleSha256(absl::Span<const uint8_t> message) {
  std::array<uint8_t, 32> out{};
  static const uint8_t kEmpty = 0;
  SHA256(message.empty() ? &kEmpty : message.data(), message.size(), out.data());
  return out;
}

absl::Status RandomBytes(absl::Span<uint8_t> out) {
  if (out.empty()) return absl::OkStatus();
  if (RAND_bytes(out.data(), out.size()) != 1) {
    return absl::InternalError("crypto: RAND_bytes failed");
  }
  return absl::OkStatus();
}

void Cleanse(void* p, size_t size) {
  if (p == nullptr || size == 0) return;
#if defined(__GLIBC__)
  // glibc's explicit_bzero is memset plus a compiler barrier: as safe as OPENSSL_cleanse and
  // several times faster on the large buffers (whole export files) the loader wipes.
  explicit_bzero(p, size);
#else
  OPENSSL_cleanse(p, size);
#endif
}

bool ConstantTimeEquals(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sasmint::crypto
