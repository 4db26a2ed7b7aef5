#include "service/token_service.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace sasmint {
namespace {

v1::KeySlot ToProtoSlot(KeySlot slot) {
  return slot == KeySlot::kSecondary ? v1::KEY_SLOT_SECONDARY : v1::KEY_SLOT_PRIMARY;
}

void FillResponse(const MintedToken& minted, v1::MintTokenResponse* response) {
  response->set_token(minted.token);
  response->set_expires_at(minted.expires_at);
  response->set_renew_after(minted.renew_after);
  response->set_server_time(minted.server_time);
  response->set_key_slot(ToProtoSlot(minted.key_slot));
}

absl::StatusOr<MintedToken> MintOne(const Minter& minter, const IdentityTable& table,
                                    const v1::MintTokenRequest& request, absl::Time now) {
  absl::StatusOr<MintRequest> parsed = ToMintRequest(request);
  if (!parsed.ok()) return parsed.status();
  return minter.Mint(table, *parsed, now);
}

const absl::Status& NotReady() {
  static const absl::Status* const kStatus =
      new absl::Status(absl::UnavailableError("keys are not loaded yet"));
  return *kStatus;
}

}  // namespace

absl::StatusOr<MintRequest> ToMintRequest(const v1::MintTokenRequest& request) {
  MintRequest out;
  switch (request.scope_case()) {
    case v1::MintTokenRequest::kIdentity: {
      const v1::Identity& id = request.identity();
      out.scope = id.module_id().empty()
                      ? TokenScope::Device(id.hub(), id.device_id())
                      : TokenScope::Module(id.hub(), id.device_id(), id.module_id());
      break;
    }
    case v1::MintTokenRequest::kPolicy:
      out.scope = TokenScope::Policy(request.policy().hub(), request.policy().policy(),
                                     request.policy().resource());
      break;
    case v1::MintTokenRequest::kRegistration:
      out.scope = TokenScope::Registration(request.registration().id_scope(),
                                           request.registration().registration_id());
      break;
    case v1::MintTokenRequest::SCOPE_NOT_SET:
      return absl::InvalidArgumentError(
          "request has no scope: set identity, policy or registration");
  }
  out.ttl_seconds = request.ttl_seconds();
  switch (request.key_slot()) {
    case v1::KEY_SLOT_UNSPECIFIED:
      out.key_slot = KeySlot::kActive;
      break;
    case v1::KEY_SLOT_PRIMARY:
      out.key_slot = KeySlot::kPrimary;
      break;
    case v1::KEY_SLOT_SECONDARY:
      out.key_slot = KeySlot::kSecondary;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key_slot value ", static_cast<int>(request.key_slot())));
  }
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::ServerUnaryReactor* TokenServiceImpl::MintToken(grpc::CallbackServerContext* context,
                                                      const v1::MintTokenRequest* request,
                                                      v1::MintTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::shared_ptr<const IdentityTable> table = store_->Snapshot();
  if (table == nullptr) {
    reactor->Finish(ToGrpcStatus(NotReady()));
    return reactor;
  }
  absl::StatusOr<MintedToken> minted = MintOne(minter_, *table, *request, clock_->Now());
  if (minted.ok()) FillResponse(*minted, response);
  reactor->Finish(ToGrpcStatus(minted.status()));
  return reactor;
}

grpc::ServerUnaryReactor* TokenServiceImpl::MintTokens(grpc::CallbackServerContext* context,
                                                       const v1::MintTokensRequest* request,
                                                       v1::MintTokensResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const uint32_t max_batch = minter_.options().max_batch_size;
  if (static_cast<uint64_t>(request->requests_size()) > max_batch) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("batch of ", request->requests_size(), " requests exceeds the maximum of ",
                     max_batch)));
    return reactor;
  }
  const std::shared_ptr<const IdentityTable> table = store_->Snapshot();
  if (table == nullptr) {
    reactor->Finish(ToGrpcStatus(NotReady()));
    return reactor;
  }
  // One clock reading per batch: every token of a batch shares its expiry second.
  const absl::Time now = clock_->Now();
  response->set_batch_id(request->batch_id());
  response->mutable_results()->Reserve(request->requests_size());
  for (const v1::MintTokenRequest& item : request->requests()) {
    v1::MintResult* result = response->add_results();
    absl::StatusOr<MintedToken> minted = MintOne(minter_, *table, item, now);
    if (minted.ok()) {
      FillResponse(*minted, result->mutable_token());
    } else {
      result->mutable_error()->set_code(static_cast<int32_t>(minted.status().code()));
      result->mutable_error()->set_message(std::string(minted.status().message()));
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace sasmint
