// report.h: what a verification says: the verdicts, the findings behind them, and the options a
// check runs with.
//
// A report lists every problem found, most important first; its verdict is the first one's
// (order: kVerdictOrder). Verdict names are a contract (VerifyToken's `verdict`, `sasmint verify
// --json`). Reports never contain key bytes or the expected signature. Plain data; the functions
// are thread-safe.
#ifndef SASMINT_SERVICE_VERIFY_REPORT_H_
#define SASMINT_SERVICE_VERIFY_REPORT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/keystore/key_store.h"
#include "service/verify/certificate.h"

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

// MatchedKey says which key the signature was made with (or which thumbprint matched).
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
  int64_t clock_skew_seconds = 300;  // IoT Hub accepts a token until se + 5 min
  // max_lifetime_seconds, if non-zero, refuses tokens that expire later than now + this. IoT
  // Hub documents no cap of its own; the only hard limit is kMaxExpiry (year 9999, where
  // .NET validators overflow), always checked.
  int64_t max_lifetime_seconds = 0;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFY_REPORT_H_
