#include "service/verify/verify_request.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "service/verify/verifier.h"

namespace sasmint {

absl::StatusOr<VerifyTarget> ResolveVerifyTarget(const VerifyRequest& request,
                                                 const VerifyOptions& options) {
  const bool has_token = !request.token.empty();
  const bool has_cert = !request.certificate_pem.empty();
  if (has_token == has_cert) {
    return absl::InvalidArgumentError(
        "set exactly one of token and certificate_pem (with identity)");
  }
  VerifyTarget target;
  if (has_token) {
    target.token = InspectToken(request.token, options);
    target.scopes = target.token->scopes;
    return target;
  }
  const TokenScope scope =
      request.module_id.empty()
          ? TokenScope::Device(request.hub, request.device_id)
          : TokenScope::Module(request.hub, request.device_id, request.module_id);
  if (absl::Status s = ValidateScope(scope); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a certificate check needs the identity it is for: ", s.message()));
  }
  ASSIGN_OR_RETURN(target.certificate, ParseCertificatePem(request.certificate_pem));
  target.scopes.push_back(scope);
  return target;
}

absl::StatusOr<VerifyReport> VerifyForCaller(const VerifyRequest& request, const CallerRule* caller,
                                             const IdentityTable& table, int64_t now) {
  VerifyOptions options;
  options.now = now;
  options.max_lifetime_seconds = std::max<int64_t>(0, request.max_lifetime_seconds);
  options.right = request.right;
  ASSIGN_OR_RETURN(const VerifyTarget target, ResolveVerifyTarget(request, options));
  // Nothing has been looked up yet: every scope the verification below reads is checked here.
  for (const TokenScope& scope : target.scopes) RETURN_IF_ERROR(Authorize(caller, scope));
  const KeySource keys = KeySource::Table(table);
  return target.token
             ? VerifyInspected(*target.token, options, keys)
             : VerifyCertificate(*target.certificate, target.scopes.front(), options, keys);
}

}  // namespace sasmint
