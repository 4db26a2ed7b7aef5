// verify_request.h: one VerifyToken call, taken apart, authorized and verified.
//
// A request names a token, or a certificate and the identity it is for. ResolveVerifyTarget
// takes it apart without reading any key; VerifyForCaller then authorizes every scope the
// verification will look up (the token's reading by IoT Hub and the readings it may have meant,
// or the certificate's identity) exactly as minting is authorized, so that a caller who may not
// mint for a scope cannot learn whether its keys or registry entry match, and only then
// verifies against the table. Thread-safe (no state).
#ifndef SASMINT_SERVICE_VERIFY_VERIFY_REQUEST_H_
#define SASMINT_SERVICE_VERIFY_VERIFY_REQUEST_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/authz/authorizer.h"
#include "service/keystore/key_store.h"
#include "service/verify/certificate.h"
#include "service/verify/report.h"
#include "service/verify/token_inspector.h"
#include "signer/sas_token.h"

namespace sasmint {

// VerifyRequest borrows its texts from the caller's message. Exactly one of token and
// certificate_pem is set; a certificate comes with the identity it is for.
struct VerifyRequest {
  absl::string_view token;
  absl::string_view certificate_pem;
  absl::string_view hub;
  absl::string_view device_id;
  absl::string_view module_id;
  uint32_t right = 0;                // a Right, or 0 (see VerifyOptions::right)
  int64_t max_lifetime_seconds = 0;  // 0: no cap but kMaxExpiry
};

// VerifyTarget is a request taken apart before any key is looked up: the token with its key-free
// checks done, or the certificate and its identity, and `scopes`, every scope whose keys or
// registry entry the verification will read.
struct VerifyTarget {
  std::optional<InspectedToken> token;
  std::optional<CertificateInfo> certificate;
  std::vector<TokenScope> scopes;
};

// ResolveVerifyTarget takes a request apart; INVALID_ARGUMENT if it has neither or both of token
// and certificate_pem, a certificate without a valid identity, or an unparsable certificate.
// Reads no keys.
absl::StatusOr<VerifyTarget> ResolveVerifyTarget(const VerifyRequest& request,
                                                 const VerifyOptions& options);

// VerifyForCaller verifies `request` for `caller` against `table` at `now` (Unix seconds, the
// server's clock: a client-supplied time would let a caller test a token at any time). Errors:
// ResolveVerifyTarget's, or PERMISSION_DENIED for the first scope the caller may not mint for,
// before anything is looked up. A token IoT Hub would reject is a report, not an error.
absl::StatusOr<VerifyReport> VerifyForCaller(const VerifyRequest& request, const CallerRule* caller,
                                             const IdentityTable& table, int64_t now);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_VERIFY_VERIFY_REQUEST_H_
