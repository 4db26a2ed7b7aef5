#include "service/etcd/sealed_value.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "sasmint/adminstore/v1/records.pb.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"

namespace sasmint {
namespace {

constexpr uint32_t kFormat = 1;

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The associated data: the record's path and the key's id, so neither can be swapped.
std::string Aad(absl::string_view path, absl::string_view kek_id) {
  return absl::StrCat("sasmint admin store v1\n", kek_id, "\n", path);
}

}  // namespace

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::FromBase64(absl::string_view text,
                                                              absl::string_view what) {
  absl::StatusOr<SecretBytes> key =
      DecodeBase64Key(absl::StripAsciiWhitespace(text), absl::StrCat(what, ": key-encryption key"));
  if (!key.ok()) return key.status();
  if (key->size() != crypto::kAesGcmKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": a key-encryption key is the base64 of 32 random bytes; this one has ",
                     key->size(), " (make one with: head -c 32 /dev/urandom | base64)"));
  }
  std::string labelled = "sasmint key-encryption key id v1\n";
  const absl::Span<const uint8_t> raw = key->Reveal(SecretKeyAccess::Get());
  labelled.append(reinterpret_cast<const char*>(raw.data()), raw.size());
  const std::array<uint8_t, 32> digest = crypto::OracleSha256(Bytes(labelled));
  crypto::Cleanse(labelled.data(), labelled.size());
  std::string id =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest.data()), 8));
  return KeyEncryptionKey(*std::move(key), std::move(id));
}

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read key-encryption key file"));
  std::stringstream text;
  text << in.rdbuf();
  std::string contents = text.str();
  absl::StatusOr<KeyEncryptionKey> key = FromBase64(contents, path);
  crypto::Cleanse(contents.data(), contents.size());
  return key;
}

absl::StatusOr<std::string> SealValue(const KeyEncryptionKey& key, absl::string_view path,
                                      absl::string_view plaintext) {
  adminstore::v1::SealedValue value;
  value.set_format(kFormat);
  value.set_kek_id(key.id());
  std::string nonce(crypto::kAesGcmNonceSize, '\0');
  if (absl::Status s = crypto::RandomBytes(
          absl::MakeSpan(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> sealed = crypto::Aes256GcmSeal(
      key.bytes().Reveal(SecretKeyAccess::Get()), Bytes(nonce), Aad(path, key.id()), plaintext);
  if (!sealed.ok()) return sealed.status();
  value.set_nonce(std::move(nonce));
  value.set_sealed(*std::move(sealed));
  return value.SerializeAsString();
}

absl::StatusOr<OpenedValue> OpenValue(const KeyRing& ring, absl::string_view path,
                                      absl::string_view stored) {
  adminstore::v1::SealedValue value;
  if (!value.ParseFromArray(stored.data(), static_cast<int>(stored.size())) ||
      value.format() != kFormat || value.nonce().size() != crypto::kAesGcmNonceSize ||
      value.sealed().size() < crypto::kAesGcmTagSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a sealed admin record (truncated or foreign value)"));
  }
  const KeyEncryptionKey* key = nullptr;
  if (value.kek_id() == ring.current.id()) key = &ring.current;
  if (ring.previous && value.kek_id() == ring.previous->id()) key = &*ring.previous;
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": sealed under key-encryption key ", value.kek_id(),
                     ", which is not configured (configured: ", ring.current.id(),
                     ring.previous ? absl::StrCat(", ", ring.previous->id()) : "", ")"));
  }
  std::string plain;
  if (absl::Status s =
          crypto::Aes256GcmOpen(key->bytes().Reveal(SecretKeyAccess::Get()), Bytes(value.nonce()),
                                Aad(path, key->id()), value.sealed(), &plain);
      !s.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", s.message()));
  }
  OpenedValue out{SecretBytes::CopyFrom(Bytes(plain)), key->id()};
  crypto::Cleanse(plain.data(), plain.size());
  return out;
}

}  // namespace sasmint
