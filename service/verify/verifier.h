// verifier.h: explains why IoT Hub would accept or reject a SAS token or an X.509 certificate.
//
// The verify core of VerifyToken and `sasmint verify`. It repeats the hub's checks
// (docs/token-spec.md §1.6, §6): syntax and expiry (token_inspector.h), then the signature against
// the primary, secondary and retired keys, the audience (hub served, identity known and enabled),
// policy rights, and the `sr` encodings that make the hub look up a different ID. Every problem
// found is reported, most important first (report.h).
//
// Verification runs in two steps so that a caller can authorize before any key is looked up:
// InspectToken needs no keys and yields the scopes the token names; VerifyInspected then looks
// up keys only for those scopes. Keys come from a KeySource: an identity table snapshot, or an
// OfflineRegistration (what the command line says the registry holds). Reports never contain
// key bytes or the expected signature. All functions are thread-safe; the key sources must
// outlive the calls that use them.
#ifndef SASMINT_SERVICE_VERIFY_VERIFIER_H_
#define SASMINT_SERVICE_VERIFY_VERIFIER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"
#include "service/verify/certificate.h"
#include "service/verify/report.h"
#include "service/verify/token_inspector.h"
#include "signer/sas_token.h"

namespace sasmint {

// OfflineRegistration stands in for the registry when no key store is consulted (`sasmint
// verify --key`): the keys the identity holds and, optionally, what the token or certificate
// must be for.
struct OfflineRegistration {
  std::optional<HmacKey> primary;
  std::optional<HmacKey> secondary;
  std::vector<RetiredKey> retired;  // keys known to be replaced (what-if; tests)
  // Optional expectations: the hub and identity the token (or certificate) must be for.
  std::string hub;
  std::string device_id;
  std::string module_id;
  // Registered X.509 thumbprints, for certificate checks.
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
};

// KeySource is where a verification finds keys and registrations: an offline registration or
// an identity table snapshot.
class KeySource {
 public:
  static KeySource Offline(const OfflineRegistration& registration) {
    return KeySource(&registration, nullptr);
  }
  static KeySource Table(const IdentityTable& table) { return KeySource(nullptr, &table); }
  const OfflineRegistration* offline() const { return offline_; }
  const IdentityTable* table() const { return table_; }

 private:
  KeySource(const OfflineRegistration* offline, const IdentityTable* table)
      : offline_(offline), table_(table) {}
  const OfflineRegistration* offline_;
  const IdentityTable* table_;
};

// VerifyInspected completes the report: audience, identity status, policy rights and signature,
// looking up only `inspected.scopes` in `keys`.
VerifyReport VerifyInspected(const InspectedToken& inspected, const VerifyOptions& options,
                             const KeySource& keys);

// Verify is InspectToken then VerifyInspected.
VerifyReport Verify(absl::string_view token, const VerifyOptions& options, const KeySource& keys);

// VerifyCertificate judges `cert` as the client certificate of `identity` (a device or module
// scope): the hub served, the identity known and enabled, a registered thumbprint equal to the
// certificate's SHA-1 or SHA-256 thumbprint, and the validity dates at options.now. Registered
// thumbprints come from the table, or from the offline registration.
VerifyReport VerifyCertificate(const CertificateInfo& cert, const TokenScope& identity,
                               const VerifyOptions& options, const KeySource& keys);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFY_VERIFIER_H_
