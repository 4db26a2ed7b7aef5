// caller_context.h: who is calling, as the transport verified it: a gRPC call's peer certificate
// turned into the CallerIdentity that the Authorizer matches rules against. Thread-safe.
#ifndef SASMINT_SERVICE_RPC_CALLER_CONTEXT_H_
#define SASMINT_SERVICE_RPC_CALLER_CONTEXT_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "service/authz/authorizer.h"

namespace sasmint {

// CallerIdentityOf returns what the transport verified about the peer of a call: its
// certificate's common name, subject alternative names and SPIFFE ID, or an anonymous identity
// for a call without a verified certificate.
CallerIdentity CallerIdentityOf(const grpc::ServerContextBase& context);

// CallerOf returns the caller of a call to `method` (ResolveCaller: PERMISSION_DENIED, logged,
// if no rule matches). Reads nothing of the call when `authorizer` is disabled.
absl::StatusOr<Caller> CallerOf(const Authorizer& authorizer,
                                const grpc::ServerContextBase& context, absl::string_view method);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_CALLER_CONTEXT_H_
