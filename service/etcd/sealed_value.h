// sealed_value.h: values sealed under key-encryption keys, for records kept outside the process.
//
// A KeyEncryptionKey is 32 random bytes read from a file holding their base64 (one line; a
// Kubernetes Secret's key). Its id is a fingerprint (16 hex characters of SHA-256 over a label
// and the key), safe to log and to store next to the values it sealed. SealValue encrypts with
// AES-256-GCM under a fresh random nonce and binds `path` (the etcd key) and the key's id as
// associated data; OpenValue accepts a value sealed under any key of a KeyRing (the current one
// and, during a rotation, the previous one). Key bytes live in SecretBytes and never appear in
// errors. Thread-safe (immutable after creation).
#ifndef SASMINT_SERVICE_ETCD_SEALED_VALUE_H_
#define SASMINT_SERVICE_ETCD_SEALED_VALUE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/secret_bytes.h"

namespace sasmint {

class KeyEncryptionKey {
 public:
  // FromFile reads the base64 of exactly 32 bytes (surrounding whitespace ignored).
  // NOT_FOUND if the file cannot be read; INVALID_ARGUMENT naming the file otherwise.
  static absl::StatusOr<KeyEncryptionKey> FromFile(const std::string& path);
  // FromBase64 is FromFile's check on text; `what` names it in errors.
  static absl::StatusOr<KeyEncryptionKey> FromBase64(absl::string_view text,
                                                     absl::string_view what);

  const std::string& id() const { return id_; }
  const SecretBytes& bytes() const { return bytes_; }

 private:
  KeyEncryptionKey(SecretBytes bytes, std::string id)
      : bytes_(std::move(bytes)), id_(std::move(id)) {}
  SecretBytes bytes_;
  std::string id_;
};

// KeyRing is the current key (seals) and an optional previous one (still opens).
struct KeyRing {
  KeyEncryptionKey current;
  std::optional<KeyEncryptionKey> previous;
};

// SealValue returns the stored form of `plaintext` at `path`. INTERNAL if the crypto library
// fails.
absl::StatusOr<std::string> SealValue(const KeyEncryptionKey& key, absl::string_view path,
                                      absl::string_view plaintext);

// OpenedValue is a value's plaintext and the id of the key that opened it.
struct OpenedValue {
  SecretBytes plaintext;
  std::string kek_id;
};

// OpenValue checks and decrypts a value read at `path`. INVALID_ARGUMENT if it is not a sealed
// value (truncated, foreign); FAILED_PRECONDITION if no key of the ring has its kek_id (a wrong or
// rotated-out key-encryption key); DATA_LOSS if it fails authentication (altered, or moved from
// another path).
absl::StatusOr<OpenedValue> OpenValue(const KeyRing& ring, absl::string_view path,
                                      absl::string_view stored);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_ETCD_SEALED_VALUE_H_
