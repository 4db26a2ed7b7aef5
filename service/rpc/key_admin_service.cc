#include "service/rpc/key_admin_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/rpc/conversions.h"
#include "signer/crypto_backend.h"

namespace sasmint {
namespace {

// WipeKeyText wipes the request's copies of the key text once decoded. The request is the
// call's own mutable message (const only in the handler's signature); gRPC's receive buffers
// are not ours to wipe.
void WipeKeyText(const v1::PutKeysRequest& request) {
  for (const v1::KeyEntry& e : request.entries()) {
    for (const std::string* s : {&e.primary_key(), &e.secondary_key()}) {
      crypto::Cleanse(const_cast<char*>(s->data()), s->size());
    }
  }
}

}  // namespace

KeyAdminServiceImpl::KeyAdminServiceImpl(KeyAdmin* admin,
                                         std::shared_ptr<const Authorizer> authorizer,
                                         Observers observers)
    : admin_(admin),
      authorizer_(authorizer != nullptr
                      ? std::move(authorizer)
                      : std::make_shared<const Authorizer>(Authorizer::Disabled())),
      observers_(observers) {}

absl::Status KeyAdminServiceImpl::Check(const grpc::CallbackServerContext& context,
                                        absl::string_view method, CallObserver& observer) const {
  absl::StatusOr<Caller> caller = ResolveCallerFor(*authorizer_, context, method, &observer);
  if (!caller.ok()) return caller.status();
  if (absl::Status s = AuthorizeAdmin(caller->rule); !s.ok()) {
    LogDenied(*caller, method, s);
    observer.AddDenials(Denials{1, s});
    return s;
  }
  return absl::OkStatus();
}

absl::Status KeyAdminServiceImpl::AuditAvailable() const {
  if (observers_.audit == nullptr || observers_.audit->Accepting()) return absl::OkStatus();
  return absl::UnavailableError(
      "the audit log cannot take records; keys are not changed unaudited");
}

grpc::ServerUnaryReactor* KeyAdminServiceImpl::PutKeys(grpc::CallbackServerContext* context,
                                                       const v1::PutKeysRequest* request,
                                                       v1::PutKeysResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallObserver observer(observers_, RpcMethod::kPutKeys, *context);
  absl::Status status = Check(*context, "KeyAdmin.PutKeys", observer);
  if (status.ok()) status = AuditAvailable();
  if (!status.ok()) {
    // Refused before decoding a single key; the key text is still wiped below.
  } else if (static_cast<size_t>(request->entries_size()) >
             admin_->options().max_entries_per_request) {
    // Refused before decoding a single key.
    status = absl::InvalidArgumentError(absl::StrCat("PutKeys takes at most ",
                                                     admin_->options().max_entries_per_request,
                                                     " entries; got ", request->entries_size()));
  } else {
    absl::StatusOr<std::vector<AdminKeyEntry>> entries = ToAdminKeyEntries(*request);
    if (!entries.ok()) {
      status = entries.status();
    } else {
      if (observer.audited()) {
        for (const AdminKeyEntry& e : *entries) {
          observer.admin_ids().AddIdentity(e.identity.device_id, e.identity.module_id);
        }
      }
      observer.AddCount("entries", static_cast<int64_t>(entries->size()));
      absl::StatusOr<PutKeysResult> result = admin_->PutKeys(*std::move(entries), context->peer());
      if (result.ok()) {
        response->set_added(result->added);
        response->set_changed(result->changed);
        observer.AddCount("added", result->added);
        observer.AddCount("changed", result->changed);
      }
      status = result.status();
    }
  }
  WipeKeyText(*request);
  // The change is made: its record uses the reserve rather than be lost.
  reactor->Finish(ToGrpcStatus(observer.Finish(status, /*always=*/true)));
  return reactor;
}

grpc::ServerUnaryReactor* KeyAdminServiceImpl::DeleteKeys(grpc::CallbackServerContext* context,
                                                          const v1::DeleteKeysRequest* request,
                                                          v1::DeleteKeysResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallObserver observer(observers_, RpcMethod::kDeleteKeys, *context);
  absl::Status status = Check(*context, "KeyAdmin.DeleteKeys", observer);
  if (status.ok()) status = AuditAvailable();
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(observer.Finish(status, /*always=*/true)));
    return reactor;
  }
  std::vector<AdminIdentity> identities;
  identities.reserve(request->identities_size());
  for (const v1::Identity& id : request->identities()) {
    identities.push_back(ToAdminIdentity(id));
    if (observer.audited()) observer.admin_ids().AddIdentity(id.device_id(), id.module_id());
  }
  observer.AddCount("entries", static_cast<int64_t>(identities.size()));
  const absl::StatusOr<uint32_t> deleted = admin_->DeleteKeys(identities, context->peer());
  if (deleted.ok()) {
    response->set_deleted(*deleted);
    observer.AddCount("deleted", *deleted);
  }
  reactor->Finish(ToGrpcStatus(observer.Finish(deleted.status(), /*always=*/true)));
  return reactor;
}

grpc::ServerUnaryReactor* KeyAdminServiceImpl::ListKeys(grpc::CallbackServerContext* context,
                                                        const v1::ListKeysRequest* request,
                                                        v1::ListKeysResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallObserver observer(observers_, RpcMethod::kListKeys, *context);
  if (absl::Status s = Check(*context, "KeyAdmin.ListKeys", observer); !s.ok()) {
    reactor->Finish(ToGrpcStatus(observer.Finish(s)));
    return reactor;
  }
  absl::StatusOr<KeyPage> page =
      admin_->ListKeys(request->hub(), request->page_size(), request->page_token());
  if (page.ok()) {
    for (const KeyInfoData& k : page->keys) FillKeyInfo(k, response->add_keys());
    response->set_next_page_token(page->next_page_token);
    observer.AddCount("listed", static_cast<int64_t>(page->keys.size()));
  }
  const absl::Status status = observer.Finish(page.status());
  if (!status.ok()) response->Clear();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace sasmint
