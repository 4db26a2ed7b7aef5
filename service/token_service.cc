#include "service/token_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

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

absl::Status TokenServiceImpl::Admit() const {
  if (draining()) {
    return absl::UnavailableError("server is shutting down; retry on another replica");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenServiceImpl::MintToken(grpc::CallbackServerContext* context,
                                                      const v1::MintTokenRequest* request,
                                                      v1::MintTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = Admit(); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
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

absl::Status TokenServiceImpl::MintBatch(const v1::MintTokensRequest& request,
                                         v1::MintTokensResponse* response) const {
  if (absl::Status s = Admit(); !s.ok()) return s;
  const uint32_t max_batch = minter_.options().max_batch_size;
  if (static_cast<uint64_t>(request.requests_size()) > max_batch) {
    return absl::InvalidArgumentError(absl::StrCat("batch of ", request.requests_size(),
                                                   " requests exceeds the maximum of ", max_batch));
  }
  const std::shared_ptr<const IdentityTable> table = store_->Snapshot();
  if (table == nullptr) return NotReady();
  // One clock reading per batch: every token of a batch shares its expiry second.
  const absl::Time now = clock_->Now();
  response->set_batch_id(request.batch_id());
  response->mutable_results()->Reserve(request.requests_size());
  for (const v1::MintTokenRequest& item : request.requests()) {
    v1::MintResult* result = response->add_results();
    absl::StatusOr<MintedToken> minted = MintOne(minter_, *table, item, now);
    if (minted.ok()) {
      FillResponse(*minted, result->mutable_token());
    } else {
      result->mutable_error()->set_code(static_cast<int32_t>(minted.status().code()));
      result->mutable_error()->set_message(std::string(minted.status().message()));
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenServiceImpl::MintTokens(grpc::CallbackServerContext* context,
                                                       const v1::MintTokensRequest* request,
                                                       v1::MintTokensResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(MintBatch(*request, response)));
  return reactor;
}

namespace {

// TokenStream is the reactor of one StreamTokens call. gRPC may run OnReadDone and OnWriteDone
// concurrently, so the state is guarded; gRPC operations are started after the lock is released.
class TokenStream final
    : public grpc::ServerBidiReactor<v1::MintTokensRequest, v1::MintTokensResponse> {
 public:
  explicit TokenStream(const TokenServiceImpl* service) : service_(service) {
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = true;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    Actions next;
    if (!ok) {
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      reads_done_ = true;  // the client half-closed, or the call is over
      next = Decide(next);
    } else {
      // Only this callback fills the buffer that is not being written, and no other read is
      // outstanding, so the batch is minted without holding the lock.
      int target;
      bool stopped;
      {
        absl::MutexLock lock(&mu_);
        target = writing_ ? 1 - current_ : current_;
        stopped = reads_done_;
      }
      absl::Status s;
      if (!stopped) {
        responses_[target].Clear();
        s = service_->MintBatch(request_, &responses_[target]);
      }
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      if (stopped) {
        // The stream already failed (a write did): drop the batch.
      } else if (!s.ok()) {
        // A bad batch ends the stream; results already sent stay valid.
        status_ = ToGrpcStatus(s);
        reads_done_ = true;
      } else if (writing_) {
        ready_ = true;  // written from OnWriteDone; the next read waits until then
      } else {
        current_ = target;
        next.write = &responses_[target];
        writing_ = true;
      }
      next = Decide(next);
    }
    Run(next);
  }

  void OnWriteDone(bool ok) override {
    Actions next;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        // The client is gone: nothing more can be delivered.
        reads_done_ = true;
        ready_ = false;
        status_ = grpc::Status(grpc::StatusCode::CANCELLED, "stream closed by the client");
      } else if (ready_) {
        ready_ = false;
        current_ = 1 - current_;
        next.write = &responses_[current_];
        writing_ = true;
      }
      next = Decide(next);
    }
    Run(next);
  }

  void OnDone() override { delete this; }

 private:
  // Actions are the gRPC operations a callback starts once it has released the lock.
  struct Actions {
    const v1::MintTokensResponse* write = nullptr;
    bool read = false;
    bool finish = false;
    grpc::Status status;
  };

  // Decide adds the next read (when nothing is waiting to be written) or the finish (once the
  // reads are over and nothing is pending) to `next`. Finish happens exactly once.
  Actions Decide(Actions next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!reads_done_ && !read_pending_ && !ready_) {
      read_pending_ = true;
      next.read = true;
    }
    if (reads_done_ && !read_pending_ && !writing_ && !ready_ && !finished_) {
      finished_ = true;
      next.finish = true;
      next.status = status_;
    }
    return next;
  }

  void Run(const Actions& next) {
    if (next.write != nullptr) StartWrite(next.write);
    if (next.read) StartRead(&request_);
    if (next.finish) Finish(next.status);
  }

  const TokenServiceImpl* const service_;
  absl::Mutex mu_;
  v1::MintTokensRequest request_;        // written by gRPC between StartRead and OnReadDone
  v1::MintTokensResponse responses_[2];  // [current_] is being written; the other may be ready
  int current_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerBidiReactor<v1::MintTokensRequest, v1::MintTokensResponse>*
TokenServiceImpl::StreamTokens(grpc::CallbackServerContext* context) {
  return new TokenStream(this);
}

}  // namespace sasmint
