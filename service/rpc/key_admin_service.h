// key_admin_service.h: the gRPC KeyAdmin service (callback API) over KeyAdmin.
//
// KeyAdminServiceImpl translates sasmint.v1 PutKeys, DeleteKeys and ListKeys to KeyAdmin calls
// (conversions.h): keys arrive as strict base64 of 16 to 64 bytes and are turned into HMAC
// midstates at once (the request's copies of the key text are wiped); responses carry metadata
// only: identities, status, fingerprints, versions and sources, never key bytes. Errors name the
// entry and field
// ("entries[3].primary_key: ...") and never contain key text. Serving it on its own listen
// address is Server's business (ServerOptions::admin_listen_address). With an enabled Authorizer
// every call needs a caller whose rule has `admin: true` (PERMISSION_DENIED otherwise, before
// any key is decoded). Thread-safe.
#ifndef SASMINT_SERVICE_RPC_KEY_ADMIN_SERVICE_H_
#define SASMINT_SERVICE_RPC_KEY_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/statusor.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/admin/key_admin.h"
#include "service/authz/authorizer.h"
#include "service/rpc/call_observer.h"

namespace sasmint {

class KeyAdminServiceImpl final : public v1::KeyAdmin::CallbackService {
 public:
  // `admin` must outlive the service. A null `authorizer` turns authorization off.
  // Every call is counted and audited through `observers`; with an audit log, a change is made
  // only while the log takes records (and its record may use the queue's reserve).
  explicit KeyAdminServiceImpl(KeyAdmin* admin,
                               std::shared_ptr<const Authorizer> authorizer = nullptr,
                               Observers observers = {});

  grpc::ServerUnaryReactor* PutKeys(grpc::CallbackServerContext* context,
                                    const v1::PutKeysRequest* request,
                                    v1::PutKeysResponse* response) override;
  grpc::ServerUnaryReactor* DeleteKeys(grpc::CallbackServerContext* context,
                                       const v1::DeleteKeysRequest* request,
                                       v1::DeleteKeysResponse* response) override;
  grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* context,
                                     const v1::ListKeysRequest* request,
                                     v1::ListKeysResponse* response) override;

 private:
  // Check returns OK if the caller of `context` may call KeyAdmin's `method`.
  absl::Status Check(const grpc::CallbackServerContext& context, absl::string_view method,
                     CallObserver& observer) const;
  // AuditAvailable returns UNAVAILABLE when an audit log is configured and cannot take a record:
  // key changes are never made unaudited.
  absl::Status AuditAvailable() const;

  KeyAdmin* const admin_;
  const std::shared_ptr<const Authorizer> authorizer_;
  const Observers observers_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_KEY_ADMIN_SERVICE_H_
