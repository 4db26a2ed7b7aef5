#include "signer/crypto_backend.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
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

namespace sasmint::crypto {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

absl::Status CheckSizes(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce) {
  if (key.size() != kAesGcmKeySize) {
    return absl::InvalidArgumentError("AES-256-GCM needs a 32-byte key");
  }
  if (nonce.size() != kAesGcmNonceSize) {
    return absl::InvalidArgumentError("AES-256-GCM needs a 12-byte nonce");
  }
  return absl::OkStatus();
}

const uint8_t* Bytes(absl::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

}  // namespace

absl::StatusOr<std::string> Aes256GcmSeal(absl::Span<const uint8_t> key,
                                          absl::Span<const uint8_t> nonce, absl::string_view aad,
                                          absl::string_view plaintext) {
  if (absl::Status s = CheckSizes(key, nonce); !s.ok()) return s;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kAesGcmTagSize, '\0');
  uint8_t* dst = reinterpret_cast<uint8_t*>(out.data());
  int n = 0, tail = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kAesGcmNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), dst, &n, Bytes(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx.get(), dst + n, &tail) != 1 ||
      static_cast<size_t>(n + tail) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAesGcmTagSize,
                          dst + plaintext.size()) != 1) {
    Cleanse(out.data(), out.size());
    return absl::InternalError("AES-256-GCM encryption failed in the crypto library");
  }
  return out;
}

absl::Status Aes256GcmOpen(absl::Span<const uint8_t> key, absl::Span<const uint8_t> nonce,
                           absl::string_view aad, absl::string_view sealed, std::string* out) {
  out->clear();
  if (absl::Status s = CheckSizes(key, nonce); !s.ok()) return s;
  if (sealed.size() < kAesGcmTagSize) {
    return absl::DataLossError("sealed value is shorter than its authentication tag");
  }
  const size_t length = sealed.size() - kAesGcmTagSize;
  std::string plain(length, '\0');
  uint8_t tag[kAesGcmTagSize];
  std::memcpy(tag, sealed.data() + length, kAesGcmTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  uint8_t* dst = reinterpret_cast<uint8_t*>(plain.data());
  int n = 0, tail = 0;
  const bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kAesGcmNonceSize, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx.get(), nullptr, &n, Bytes(aad), static_cast<int>(aad.size())) == 1) &&
      EVP_DecryptUpdate(ctx.get(), dst, &n, Bytes(sealed), static_cast<int>(length)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAesGcmTagSize, tag) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), dst + n, &tail) == 1 &&
      static_cast<size_t>(n + tail) == length;
  if (!ok) {
    Cleanse(plain.data(), plain.size());
    return absl::DataLossError(
        "authentication failed: wrong key-encryption key, or the value or its name was altered");
  }
  *out = std::move(plain);
  return absl::OkStatus();
}

}  // namespace sasmint::crypto
