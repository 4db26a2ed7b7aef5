#include "service/rpc/caller_context.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"

namespace sasmint {

CallerIdentity CallerIdentityOf(const grpc::ServerContextBase& context) {
  CallerIdentity out;
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // Authenticated only with a certificate the server verified against its client CA.
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return out;
  out.authenticated = true;
  for (const grpc::string_ref& v : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    out.common_name.assign(v.data(), v.size());
  }
  for (const grpc::string_ref& v : auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    out.sans.emplace_back(v.data(), v.size());
  }
  for (const grpc::string_ref& v : auth->FindPropertyValues(GRPC_PEER_SPIFFE_ID_PROPERTY_NAME)) {
    out.spiffe_id.assign(v.data(), v.size());
  }
  if (out.spiffe_id.empty()) {
    // gRPC reports a SPIFFE ID only when it is the certificate's one URI SAN; take it from the
    // SANs otherwise (a certificate with two spiffe:// SANs is not a SPIFFE identity: none).
    int found = 0;
    for (const std::string& san : out.sans) {
      if (absl::StartsWith(san, "spiffe://") && found++ == 0) out.spiffe_id = san;
    }
    if (found > 1) out.spiffe_id.clear();
  }
  return out;
}

absl::StatusOr<Caller> CallerOf(const Authorizer& authorizer,
                                const grpc::ServerContextBase& context, absl::string_view method) {
  if (!authorizer.enabled()) return Caller();
  return ResolveCaller(authorizer, CallerIdentityOf(context), method);
}

}  // namespace sasmint
