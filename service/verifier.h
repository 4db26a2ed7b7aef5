// verifier.h: explains why IoT Hub would accept or reject a SAS token or an X.509 certificate.
//
// The gRPC-free core of VerifyToken and `sasmint verify`. It repeats the hub's checks
// (../shared/reference/azure-sas-spec.md §1.6, §6): syntax, expiry with the 5-minute clock-skew
// allowance, the signature against the primary, secondary and retired keys, the audience (hub
// served, identity known and enabled), policy rights, and the `sr` encodings that make the hub
// look up a different ID. Every problem found is reported, most important first; the report's
// verdict is the first one's (order: kVerdictOrder below).
//
// Verification runs in two steps so that a caller can authorize before any key is looked up:
// InspectToken needs no keys and yields the scopes the token names; VerifyInspected then looks
// up keys only for those scopes. Reports never contain key bytes or the expected signature.
// All functions are thread-safe; the key sources must outlive the calls that use them.
#ifndef SASMINT_SERVICE_VERIFIER_H_
#define SASMINT_SERVICE_VERIFIER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/cert_inspector.h"
#include "service/keystore/key_store.h"
#include "signer/sas_token.h"

namespace sasmint {

enum class Verdict {
  kValid,
  kMalformed,
  kExpired,
  kExpiresTooLate,
  kSignatureMismatch,
  kRetiredKey,
  kUnknownHub,
  kUnknownIdentity,
  kIdentityDisabled,
  kUnknownPolicy,
  kPolicyLacksRight,
  kEncodingMismatch,
  kThumbprintMismatch,
  kCertExpired,
};

// kVerdictOrder ranks verdicts, most important first: the problem to fix first, because fixing
// the later ones alone would not make the hub accept. An unparsable token tells nothing else
// for sure; an encoding mismatch is the cause of the identity or signature failures it brings;
// a token for the wrong hub, identity or policy cannot be fixed by re-signing; a disabled
// identity needs an administrator; a wrong key needs a new token from the right key; expiry
// needs only a new token (or a corrected clock). VALID is last.
inline constexpr std::array<Verdict, 14> kVerdictOrder = {
    Verdict::kMalformed,          Verdict::kEncodingMismatch,
    Verdict::kUnknownHub,         Verdict::kUnknownIdentity,
    Verdict::kUnknownPolicy,      Verdict::kIdentityDisabled,
    Verdict::kRetiredKey,         Verdict::kSignatureMismatch,
    Verdict::kThumbprintMismatch, Verdict::kPolicyLacksRight,
    Verdict::kExpiresTooLate,     Verdict::kExpired,
    Verdict::kCertExpired,        Verdict::kValid,
};

// VerdictName returns the contract name ("VALID", "SIGNATURE_MISMATCH", ...).
absl::string_view VerdictName(Verdict verdict);
// ParseVerdict returns the verdict named `name`, or nullopt.
std::optional<Verdict> ParseVerdict(absl::string_view name);

struct Finding {
  Verdict verdict = Verdict::kValid;
  std::string message;  // the IoT Hub error text it corresponds to, the cause, and the fix
};

// MatchedKey says which key the signature was made with.
struct MatchedKey {
  KeySlot slot = KeySlot::kPrimary;
  uint32_t version = 0;    // the identity's key version (0: not known)
  bool retired = false;    // a key the identity no longer holds
  int64_t retired_at = 0;  // Unix seconds, if retired
  std::string owner;       // "device 'd1'", "policy 'p'", "enrollment group 'g'", "--key"
};

struct VerifyReport {
  Verdict verdict = Verdict::kValid;
  std::string message;             // findings[0].message, or a summary when valid
  std::vector<Finding> findings;   // every problem found, in kVerdictOrder (stable)
  std::vector<std::string> notes;  // facts that are not rejections (e.g. inside the allowance)
  std::optional<MatchedKey> matched_key;
  std::optional<int64_t> expires_at;           // the token's se, when it is a number
  std::optional<CertificateInfo> certificate;  // certificate checks only

  bool valid() const { return verdict == Verdict::kValid; }
};

struct VerifyOptions {
  int64_t now = 0;  // Unix seconds: the server's clock, or the CLI's (`--now` for what-ifs)
  // right, if non-zero, is the Right the token is meant for; zero means DeviceConnect when the
  // token names a device or module and no check otherwise.
  uint32_t right = 0;
  int64_t clock_skew_seconds = 300;  // IoT Hub accepts a token until se + 5 min (spec §1.5)
  // max_lifetime_seconds, if non-zero, refuses tokens that expire later than now + this. The
  // spec knows no hub-side cap (§10, open question); the only hard limit is kMaxExpiry (year
  // 9999, where .NET validators overflow), always checked.
  int64_t max_lifetime_seconds = 0;
};

// OfflineKeys are keys and expectations given directly (the CLI's --key), not a key store.
struct OfflineKeys {
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

// VerifyKeys is where keys come from: offline keys or an identity table snapshot.
class VerifyKeys {
 public:
  static VerifyKeys Offline(const OfflineKeys& keys) { return VerifyKeys(&keys, nullptr); }
  static VerifyKeys Table(const IdentityTable& table) { return VerifyKeys(nullptr, &table); }
  const OfflineKeys* offline() const { return offline_; }
  const IdentityTable* table() const { return table_; }

 private:
  VerifyKeys(const OfflineKeys* offline, const IdentityTable* table)
      : offline_(offline), table_(table) {}
  const OfflineKeys* offline_;
  const IdentityTable* table_;
};

// InspectedToken is a token taken apart with the checks that need no keys (syntax, expiry,
// encoding). `scopes` are the scopes its sr and skn name: first as IoT Hub decodes them, then
// any other reading the sender probably meant (double encoding, raw '+' or '%'). Key lookups
// use only these scopes, so a caller that authorizes every one has authorized the lookups.
struct InspectedToken {
  std::string token;               // the token as given
  std::vector<TokenScope> scopes;  // empty if the sr names no scope
  std::vector<Finding> findings;
  std::vector<std::string> notes;
  std::optional<int64_t> expires_at;
  // For VerifyInspected: the raw texts the signature covers, the decoded signature, and what
  // the encoding checks left for the registry (or the expected identity) to decide.
  std::optional<std::string> encoded_resource;
  std::optional<std::string> expiry_text;
  std::optional<std::string> key_name;
  std::optional<Mac> signature;
  bool encoding_reported = false;  // an ENCODING_MISMATCH finding is already in `findings`
  bool scope_ambiguous = false;    // scopes[1..] are readings to confirm against the registry
  std::string encoding_hint;       // why they differ, and the fix
};

// InspectToken parses `token` leniently and runs the checks that need no keys. A token over
// 8 KiB is reported MALFORMED without further parsing.
InspectedToken InspectToken(absl::string_view token, const VerifyOptions& options);

// VerifyInspected completes the report: audience, identity status, policy rights and signature,
// looking up only `inspected.scopes` in `keys`.
VerifyReport VerifyInspected(const InspectedToken& inspected, const VerifyOptions& options,
                             const VerifyKeys& keys);

// Verify is InspectToken then VerifyInspected.
VerifyReport Verify(absl::string_view token, const VerifyOptions& options, const VerifyKeys& keys);

// VerifyCertificate judges `cert` as the client certificate of `identity` (a device or module
// scope): the hub served, the identity known and enabled, a registered thumbprint equal to the
// certificate's SHA-1 or SHA-256 thumbprint, and the validity dates at options.now. Registered
// thumbprints come from the table, or from keys.offline() thumbprints.
VerifyReport VerifyCertificate(const CertificateInfo& cert, const TokenScope& identity,
                               const VerifyOptions& options, const VerifyKeys& keys);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFIER_H_
