#include "service/verify/report.h"

namespace sasmint {
namespace {

struct VerdictNameEntry {
  Verdict verdict;
  absl::string_view name;
};
constexpr VerdictNameEntry kVerdictNames[] = {
    {Verdict::kValid, "VALID"},
    {Verdict::kMalformed, "MALFORMED"},
    {Verdict::kExpired, "EXPIRED"},
    {Verdict::kExpiresTooLate, "EXPIRES_TOO_LATE"},
    {Verdict::kSignatureMismatch, "SIGNATURE_MISMATCH"},
    {Verdict::kRetiredKey, "RETIRED_KEY"},
    {Verdict::kUnknownHub, "UNKNOWN_HUB"},
    {Verdict::kUnknownIdentity, "UNKNOWN_IDENTITY"},
    {Verdict::kIdentityDisabled, "IDENTITY_DISABLED"},
    {Verdict::kUnknownPolicy, "UNKNOWN_POLICY"},
    {Verdict::kPolicyLacksRight, "POLICY_LACKS_RIGHT"},
    {Verdict::kEncodingMismatch, "ENCODING_MISMATCH"},
    {Verdict::kThumbprintMismatch, "THUMBPRINT_MISMATCH"},
    {Verdict::kCertExpired, "CERT_EXPIRED"},
};

}  // namespace

absl::string_view VerdictName(Verdict verdict) {
  for (const VerdictNameEntry& e : kVerdictNames) {
    if (e.verdict == verdict) return e.name;
  }
  return "UNKNOWN";
}

std::optional<Verdict> ParseVerdict(absl::string_view name) {
  for (const VerdictNameEntry& e : kVerdictNames) {
    if (e.name == name) return e.verdict;
  }
  return std::nullopt;
}

}  // namespace sasmint
