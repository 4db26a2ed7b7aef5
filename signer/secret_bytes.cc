#include "signer/secret_bytes.h"

#include <cstring>
#include <utility>

#include "signer/crypto_backend.h"

namespace sasmint {

SecretBytes::SecretBytes(size_t size)
    : data_(size > 0 ? std::make_unique<uint8_t[]>(size) : nullptr), size_(size) {}

SecretBytes SecretBytes::CopyFrom(absl::Span<const uint8_t> bytes) {
  SecretBytes out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data_.get(), bytes.data(), bytes.size());
  return out;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() {
  crypto::Cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

}  // namespace sasmint
