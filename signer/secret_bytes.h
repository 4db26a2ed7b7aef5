// secret_bytes.h: SecretBytes, an owning buffer for key material that is wiped when it dies.
//
// Key bytes are never printable: SecretBytes has no operator<<, no debug string, and no implicit
// view. Reading the bytes requires a SecretKeyAccess token (SecretKeyAccess::Get()), so every
// place that touches raw key material is greppable. Thread-compatible.
#ifndef SASMINT_SIGNER_SECRET_BYTES_H_
#define SASMINT_SIGNER_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/types/span.h"

namespace sasmint {

// SecretKeyAccess is a capability token: functions that expose key bytes take one by value.
class SecretKeyAccess {
 public:
  // Get returns the token. Call it only where the bytes are about to be used for crypto.
  static SecretKeyAccess Get() { return SecretKeyAccess(); }

 private:
  SecretKeyAccess() = default;
};

class SecretBytes {
 public:
  SecretBytes() = default;
  // SecretBytes(size) allocates `size` zero bytes.
  explicit SecretBytes(size_t size);
  // CopyFrom copies `bytes` into a new SecretBytes; the caller remains responsible for wiping
  // its own copy.
  static SecretBytes CopyFrom(absl::Span<const uint8_t> bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Reveal / MutableReveal return a view of the bytes, valid while *this lives unchanged.
  absl::Span<const uint8_t> Reveal(SecretKeyAccess) const { return {data_.get(), size_}; }
  absl::Span<uint8_t> MutableReveal(SecretKeyAccess) { return {data_.get(), size_}; }

 private:
  void Wipe();

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SIGNER_SECRET_BYTES_H_
