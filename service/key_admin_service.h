// key_admin_service.h: the gRPC KeyAdmin service (callback API) over KeyAdmin.
//
// KeyAdminServiceImpl translates sasmint.v1 PutKeys, DeleteKeys and ListKeys to KeyAdmin calls:
// keys arrive as strict base64 of 16 to 64 bytes and are turned into HMAC midstates at once (the
// request's copies of the key text are wiped); responses carry metadata only: identities,
// status, fingerprints, versions and sources, never key bytes. Errors name the entry and field
// ("entries[3].primary_key: ...") and never contain key text. Serving it on its own listen
// address is Server's business (ServerOptions::admin_listen_address). Thread-safe.
#ifndef SASMINT_SERVICE_KEY_ADMIN_SERVICE_H_
#define SASMINT_SERVICE_KEY_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <vector>

#include "absl/status/statusor.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/key_admin.h"

namespace sasmint {

// ToAdminKeyEntries converts PutKeys entries; INVALID_ARGUMENT naming "entries[i].<field>" for
// a missing identity or a key that is not strict base64 of 16-64 bytes (identities are checked
// by KeyAdmin::PutKeys).
absl::StatusOr<std::vector<AdminKeyEntry>> ToAdminKeyEntries(const v1::PutKeysRequest& request);

class KeyAdminServiceImpl final : public v1::KeyAdmin::CallbackService {
 public:
  // `admin` must outlive the service.
  explicit KeyAdminServiceImpl(KeyAdmin* admin) : admin_(admin) {}

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
  KeyAdmin* const admin_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_KEY_ADMIN_SERVICE_H_
