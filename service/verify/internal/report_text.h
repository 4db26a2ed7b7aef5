// report_text.h: the wording shared by the token, key and certificate checks (internal): IoT
// Hub's own error texts, quoting of untrusted text, times and durations, scope descriptions,
// and the sorting that makes a report's verdict its most important finding.
#ifndef SASMINT_SERVICE_VERIFY_INTERNAL_REPORT_TEXT_H_
#define SASMINT_SERVICE_VERIFY_INTERNAL_REPORT_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/verify/report.h"
#include "signer/sas_token.h"

namespace sasmint::internal {

// The hub's own texts (docs/token-spec.md §6).
inline constexpr absl::string_view kHubExpired = "The specified SAS token is expired";
inline constexpr absl::string_view kHubBadSignature =
    "The specified SAS token has an invalid signature. It does not match either the primary or "
    "secondary key.";
inline constexpr absl::string_view kHubAuthFailed =
    "Authentication failed for this device, renew token or certificate and reconnect";

// Quote returns `text` in single quotes, with bytes that are not printable ASCII written as
// \xNN and long texts cut, so that token contents cannot disturb a terminal or a log line.
std::string Quote(absl::string_view text);
// FormatTime returns e.g. "2026-12-07T08:00:00Z".
std::string FormatTime(int64_t unix_seconds);
// FormatDuration returns e.g. "3 h 2 min" for a non-negative number of seconds.
std::string FormatDuration(int64_t seconds);

bool IsIdentityScope(const TokenScope& scope);
// HubName returns the IoT Hub name the hub's messages use: the first label of its host name.
absl::string_view HubName(absl::string_view host);
// Describe returns e.g. "device 'd1'", "module 'm' of device 'd1'", "policy 'p' on 'hub'".
std::string Describe(const TokenScope& scope);
// NotContained returns IoT Hub's "IotHub 'h' does not contain the specified device 'd[/m]'" for
// a device or module scope.
std::string NotContained(const TokenScope& scope);
// RightText returns the name of `right`, or "the requested right".
absl::string_view RightText(uint32_t right);

// AddFinding appends a finding.
void AddFinding(std::vector<Finding>* findings, Verdict verdict, std::string message);
// Finish sorts the findings by kVerdictOrder (stable) and sets the verdict and message: the
// first finding's, or VALID with `valid_message`.
void Finish(VerifyReport* report, std::string valid_message);

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_VERIFY_INTERNAL_REPORT_TEXT_H_
