#include "client/internal/transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/channel.h"
#include "sasmint/v1/sasmint.grpc.pb.h"

namespace sasmint::client::internal {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

void FillRequest(const Identity& id, uint32_t ttl_seconds, v1::MintTokenRequest* request) {
  v1::Identity* out = request->mutable_identity();
  out->set_hub(id.hub);
  out->set_device_id(id.device_id);
  if (!id.module_id.empty()) out->set_module_id(id.module_id);
  request->set_ttl_seconds(ttl_seconds);
}

MintOutcome FromResponse(const v1::MintTokenResponse& response) {
  MintOutcome out;
  out.token = response.token();
  out.expires_at = response.expires_at();
  out.renew_after = response.renew_after();
  out.server_time = response.server_time();
  if (out.token.empty() || out.expires_at == 0) {
    out.status = absl::DataLossError("the server's response has no token");
  }
  return out;
}

MintOutcome Failed(absl::Status status) {
  MintOutcome out;
  out.status = std::move(status);
  return out;
}

std::vector<MintOutcome> AllFailed(size_t n, const absl::Status& status) {
  std::vector<MintOutcome> out(n);
  for (MintOutcome& o : out) {
    o.status = status;
    o.call_failed = true;
  }
  return out;
}

// FromBatch converts a MintTokensResponse for a batch of `n` identities; results it lacks fail
// with DATA_LOSS.
std::vector<MintOutcome> FromBatch(const v1::MintTokensResponse& response, size_t n) {
  std::vector<MintOutcome> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (i >= static_cast<size_t>(response.results_size())) {
      out[i].status = absl::DataLossError(
          absl::StrCat("the server answered ", response.results_size(), " of ", n, " requests"));
      continue;
    }
    const v1::MintResult& r = response.results(static_cast<int>(i));
    if (r.has_token()) {
      out[i] = FromResponse(r.token());
    } else if (r.has_error()) {
      out[i].status =
          absl::Status(static_cast<absl::StatusCode>(r.error().code()), r.error().message());
      if (out[i].status.ok()) out[i].status = absl::UnknownError("error result with code 0");
    } else {
      out[i].status = absl::DataLossError("empty result");
    }
  }
  return out;
}

void FillBatch(const std::vector<Identity>& ids, uint32_t ttl, v1::MintTokensRequest* request) {
  request->mutable_requests()->Reserve(static_cast<int>(ids.size()));
  for (const Identity& id : ids) FillRequest(id, ttl, request->add_requests());
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration d) {
  return std::chrono::system_clock::now() + std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

// CallTracker owns the calls in flight, to cancel them and wait for their callbacks on
// shutdown. A call's callback captures a plain pointer and its end only moves the call to
// `finished_`: calls (and their ClientContexts, which hold the channel) are destroyed on the
// client's threads, never in a gRPC callback, where dropping the channel's last reference
// breaks gRPC 1.51 (grpc/grpc#37858, #37198).
class CallTracker {
 public:
  // Begin takes ownership of a call about to start; false once shut down (the call must not
  // start, and stays the caller's). Destroys calls that have ended.
  bool Begin(std::shared_ptr<void> call, grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::shared_ptr<void>> ended;  // destroyed after the lock is released
    absl::MutexLock lock(&mu_);
    if (shutdown_) return false;
    ended.swap(finished_);
    live_[context] = std::move(call);
    return true;
  }
  // End is called last in a call's callback, after the batch's done callback has returned.
  void End(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(context);
    finished_.push_back(std::move(it->second));
    live_.erase(it);
  }
  // CancelAllAndWait cancels the calls in flight, waits for their callbacks, and destroys
  // every call.
  void CancelAllAndWait() ABSL_LOCKS_EXCLUDED(mu_) {
    std::vector<std::pair<grpc::ClientContext*, std::shared_ptr<void>>> live;
    {
      absl::MutexLock lock(&mu_);
      shutdown_ = true;
      for (auto& [context, call] : live_) live.emplace_back(context, call);
    }
    // Outside the lock: gRPC may run a cancelled call's callback inline.
    for (auto& [context, call] : live) context->TryCancel();
    live.clear();
    std::vector<std::shared_ptr<void>> ended;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](absl::flat_hash_map<grpc::ClientContext*, std::shared_ptr<void>>* m) {
            return m->empty();
          },
          &live_));
      ended.swap(finished_);
    }
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<grpc::ClientContext*, std::shared_ptr<void>> live_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<void>> finished_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

// CallTransport is what the unary and batch transports share: a stub, a tracker that owns
// their calls, and the steps that start one.
class CallTransport : public Transport {
 public:
  CallTransport(std::shared_ptr<grpc::Channel> channel, TransportOptions options)
      : stub_(v1::TokenService::NewStub(channel)), options_(std::move(options)) {}
  void Shutdown() override { tracker_.CancelAllAndWait(); }
  int64_t rpcs() const override { return rpcs_.load(std::memory_order_relaxed); }

 protected:
  // Track sets `context`'s deadline and wait-for-ready and hands `call` to the tracker; false
  // once shut down (the call must not start; the caller's reference keeps it alive).
  bool Track(const std::shared_ptr<void>& call, grpc::ClientContext* context, bool wait_for_ready) {
    context->set_deadline(DeadlineAfter(options_.rpc_timeout));
    context->set_wait_for_ready(wait_for_ready);
    if (!tracker_.Begin(call, context)) return false;
    rpcs_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  std::unique_ptr<v1::TokenService::Stub> stub_;
  const TransportOptions options_;
  CallTracker tracker_;

 private:
  std::atomic<int64_t> rpcs_{0};
};

// UnaryTransport: one MintToken per identity; a batch is answered when its last call ends.
class UnaryTransport final : public CallTransport {
 public:
  using CallTransport::CallTransport;
  ~UnaryTransport() override { Shutdown(); }

  void Send(MintBatch batch) override {
    struct Join {
      std::function<void(std::vector<MintOutcome>)> done;
      std::vector<MintOutcome> outcomes;
      std::atomic<size_t> remaining;
      void Set(size_t i, MintOutcome o) {
        outcomes[i] = std::move(o);
        if (remaining.fetch_sub(1) == 1) done(std::move(outcomes));
      }
    };
    struct Call {
      grpc::ClientContext context;
      v1::MintTokenRequest request;
      v1::MintTokenResponse response;
    };
    const size_t n = batch.identities.size();
    auto join = std::make_shared<Join>();
    join->done = std::move(batch.done);
    join->outcomes.resize(n);
    join->remaining = n;
    if (n == 0) join->done({});
    for (size_t i = 0; i < n; ++i) {
      auto owned = std::make_shared<Call>();
      Call* call = owned.get();
      FillRequest(batch.identities[i], options_.ttl_seconds, &call->request);
      if (!Track(owned, &call->context, batch.wait_for_ready)) {
        join->Set(i, Failed(absl::CancelledError("the token client is shutting down")));
        continue;
      }
      owned.reset();
      stub_->async()->MintToken(
          &call->context, &call->request, &call->response, [this, call, join, i](grpc::Status s) {
            join->Set(i, s.ok() ? FromResponse(call->response) : Failed(FromGrpc(s)));
            tracker_.End(&call->context);
          });
    }
  }
};

// BatchTransport: one MintTokens per batch.
class BatchTransport final : public CallTransport {
 public:
  using CallTransport::CallTransport;
  ~BatchTransport() override { Shutdown(); }

  void Send(MintBatch batch) override {
    struct Call {
      grpc::ClientContext context;
      v1::MintTokensRequest request;
      v1::MintTokensResponse response;
      MintBatch batch;
    };
    auto owned = std::make_shared<Call>();
    Call* call = owned.get();
    FillBatch(batch.identities, options_.ttl_seconds, &call->request);
    const bool wait_for_ready = batch.wait_for_ready;
    call->batch = std::move(batch);
    const size_t n = call->batch.identities.size();
    if (!Track(owned, &call->context, wait_for_ready)) {
      call->batch.done(AllFailed(n, absl::CancelledError("the token client is shutting down")));
      return;
    }
    owned.reset();
    stub_->async()->MintTokens(
        &call->context, &call->request, &call->response, [this, call, n](grpc::Status s) {
          call->batch.done(s.ok() ? FromBatch(call->response, n) : AllFailed(n, FromGrpc(s)));
          tracker_.End(&call->context);
        });
  }
};

// StreamTransport: batches as messages of one StreamTokens stream at a time. Streams are not
// deleted in OnDone but parked in finished_ and deleted later by Dispatch or Shutdown, so that
// Shutdown can cancel a stream without racing with its end.
class StreamTransport final : public Transport {
 public:
  StreamTransport(std::shared_ptr<grpc::Channel> channel, TransportOptions options)
      : stub_(v1::TokenService::NewStub(channel)), options_(std::move(options)) {}
  ~StreamTransport() override { Shutdown(); }

  void Send(MintBatch batch) override {
    std::vector<Pending> items;
    items.push_back(Pending{std::move(batch), false});
    Dispatch(std::move(items));
  }
  void Shutdown() override;
  int64_t rpcs() const override {
    absl::MutexLock lock(&mu_);
    return rpcs_;
  }
  int64_t stream_reopens() const override {
    absl::MutexLock lock(&mu_);
    return opened_ > 0 ? opened_ - 1 : 0;
  }

 private:
  struct Pending {
    MintBatch batch;
    bool resent = false;  // sent once more after a stream broke
  };

  // Stream is one StreamTokens call. Its state is guarded by the transport's mu_.
  class Stream final
      : public grpc::ClientBidiReactor<v1::MintTokensRequest, v1::MintTokensResponse> {
   public:
    explicit Stream(StreamTransport* owner) : owner_(owner) {}
    void OnWriteDone(bool ok) override;
    void OnReadDone(bool ok) override;
    void OnDone(const grpc::Status& status) override;

    StreamTransport* const owner_;
    grpc::ClientContext context_;
    v1::MintTokensResponse response_;
    v1::MintTokensRequest write_;  // the outstanding write
    std::deque<v1::MintTokensRequest> queue_;
    std::map<uint64_t, Pending> in_flight_;  // by batch_id: sent or queued, not answered
    bool started_ = false;
    bool writing_ = false;
    bool closed_ = false;  // broken or cancelled: no more writes
    bool hold_removed_ = false;
    bool responded_ = false;
  };

  // Dispatch queues `items` on the current stream, opening one if there is none.
  void Dispatch(std::vector<Pending> items) ABSL_LOCKS_EXCLUDED(mu_);
  void Start(Stream* s) ABSL_LOCKS_EXCLUDED(mu_);
  // CloseLocked marks `s` broken; new batches then go to a new stream.
  void CloseLocked(Stream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    s->closed_ = true;
    if (current_ == s) current_ = nullptr;
  }
  // TakeHoldLocked returns true when the caller must call s->RemoveHold() (after unlocking):
  // the stream is closed and no write is outstanding, so OnDone may come. `s` may be deleted
  // once RemoveHold has been called.
  static bool TakeHoldLocked(Stream* s) {
    if (!s->started_ || !s->closed_ || s->writing_ || s->hold_removed_) return false;
    s->hold_removed_ = true;
    return true;
  }

  std::unique_ptr<v1::TokenService::Stub> stub_;
  const TransportOptions options_;
  mutable absl::Mutex mu_;
  Stream* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<Stream*> live_ ABSL_GUARDED_BY(mu_);      // OnDone not finished
  std::vector<Stream*> finished_ ABSL_GUARDED_BY(mu_);  // OnDone finished: to delete
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  int64_t rpcs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t opened_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
};

void StreamTransport::Dispatch(std::vector<Pending> items) {
  std::vector<Pending> refused;
  std::vector<Stream*> to_delete;
  Stream* to_start = nullptr;
  Stream* to_write = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      refused = std::move(items);
    } else {
      to_delete.swap(finished_);
      if (current_ == nullptr) {
        current_ = new Stream(this);
        live_.push_back(current_);
        ++opened_;
        to_start = current_;
      }
      Stream* s = current_;
      for (Pending& p : items) {
        const uint64_t id = next_batch_id_++;
        v1::MintTokensRequest request;
        FillBatch(p.batch.identities, options_.ttl_seconds, &request);
        request.set_batch_id(id);
        s->in_flight_.emplace(id, std::move(p));
        ++rpcs_;
        if (s->started_ && !s->writing_) {
          s->writing_ = true;
          s->write_ = std::move(request);
          to_write = s;
        } else {
          s->queue_.push_back(std::move(request));
        }
      }
    }
  }
  for (Stream* s : to_delete) delete s;
  for (Pending& p : refused) {
    p.batch.done(AllFailed(p.batch.identities.size(),
                           absl::CancelledError("the token client is shutting down")));
  }
  if (to_start != nullptr) Start(to_start);
  if (to_write != nullptr) to_write->StartWrite(&to_write->write_);
}

void StreamTransport::Start(Stream* s) {
  stub_->async()->StreamTokens(&s->context_, s);
  s->AddHold();  // writes start from outside the reactor's callbacks
  s->StartRead(&s->response_);
  s->StartCall();
  bool write = false;
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    s->started_ = true;
    if (!s->closed_ && !s->writing_ && !s->queue_.empty()) {
      s->write_ = std::move(s->queue_.front());
      s->queue_.pop_front();
      s->writing_ = true;
      write = true;
    }
    remove_hold = TakeHoldLocked(s);
  }
  if (write) s->StartWrite(&s->write_);
  if (remove_hold) s->RemoveHold();
}

void StreamTransport::Stream::OnWriteDone(bool ok) {
  bool write = false;
  bool remove_hold = false;
  {
    absl::MutexLock lock(&owner_->mu_);
    writing_ = false;
    if (!ok) {
      owner_->CloseLocked(this);
    } else if (!closed_ && !queue_.empty()) {
      write_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      write = true;
    }
    remove_hold = TakeHoldLocked(this);
  }
  if (write) StartWrite(&write_);
  if (remove_hold) RemoveHold();
}

void StreamTransport::Stream::OnReadDone(bool ok) {
  if (!ok) {
    bool remove_hold = false;
    {
      absl::MutexLock lock(&owner_->mu_);
      owner_->CloseLocked(this);
      remove_hold = TakeHoldLocked(this);
    }
    if (remove_hold) RemoveHold();
    return;
  }
  Pending done;
  bool found = false;
  bool matched = false;
  {
    absl::MutexLock lock(&owner_->mu_);
    responded_ = true;
    auto it = in_flight_.find(response_.batch_id());
    matched = it != in_flight_.end();
    // The server answers in order: an answer that matches nothing is the oldest batch's.
    if (!matched && !in_flight_.empty()) it = in_flight_.begin();
    if (it != in_flight_.end()) {
      done = std::move(it->second);
      in_flight_.erase(it);
      found = true;
    }
  }
  std::vector<MintOutcome> outcomes;
  if (found) {
    const size_t n = done.batch.identities.size();
    outcomes = matched ? FromBatch(response_, n)
                       : AllFailed(n, absl::DataLossError("stream answer with an unknown batch"));
  }
  StartRead(&response_);
  if (found) done.batch.done(std::move(outcomes));
}

void StreamTransport::Stream::OnDone(const grpc::Status& status) {
  StreamTransport* const owner = owner_;
  std::vector<Pending> resend, failed;
  {
    absl::MutexLock lock(&owner->mu_);
    owner->CloseLocked(this);
    const absl::Status s = FromGrpc(status);
    // A stream that had been answering broke (restart, connection age): its unanswered
    // batches go once more on a new stream. One that never answered fails them: the caller
    // backs off before trying again.
    const bool may_resend = !owner->shutdown_ && responded_ && (s.ok() || IsRetryable(s));
    for (auto& [id, p] : in_flight_) {
      if (may_resend && !p.resent) {
        p.resent = true;
        resend.push_back(std::move(p));
      } else {
        failed.push_back(std::move(p));
      }
    }
    in_flight_.clear();
    queue_.clear();
  }
  absl::Status s = FromGrpc(status);
  if (s.ok()) s = absl::UnavailableError("the stream ended with batches unanswered");
  for (Pending& p : failed) p.batch.done(AllFailed(p.batch.identities.size(), s));
  if (!resend.empty()) owner->Dispatch(std::move(resend));
  // Last: from here on `this` may be deleted by another thread.
  absl::MutexLock lock(&owner->mu_);
  owner->live_.erase(std::find(owner->live_.begin(), owner->live_.end(), this));
  owner->finished_.push_back(this);
}

void StreamTransport::Shutdown() {
  std::vector<Stream*> live;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    live = live_;  // not deleted before this function's end: Dispatch deletes nothing now
  }
  for (Stream* s : live) s->context_.TryCancel();
  std::vector<Stream*> finished;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::vector<Stream*>* v) { return v->empty(); }, &live_));
    finished.swap(finished_);
  }
  for (Stream* s : finished) delete s;
}

}  // namespace

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(const TransportOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no target address");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_root_certs_pem.empty() && options.tls_private_key_pem.empty() &&
      options.tls_cert_chain_pem.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    if (options.tls_private_key_pem.empty() != options.tls_cert_chain_pem.empty()) {
      return absl::InvalidArgumentError("a TLS client key needs its certificate chain");
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs_pem;
    ssl.pem_private_key = options.tls_private_key_pem;
    ssl.pem_cert_chain = options.tls_cert_chain_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  // Round robin over the replicas, health-checked, unary calls retried on UNAVAILABLE, a
  // restarted server used within a second (client/channel.h).
  grpc::ChannelArguments args = GatewayChannelArguments();
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, credentials, args);
  switch (options.mode) {
    case MintMode::kUnary:
      return std::unique_ptr<Transport>(new UnaryTransport(channel, options));
    case MintMode::kBatch:
      return std::unique_ptr<Transport>(new BatchTransport(channel, options));
    case MintMode::kStream:
      return std::unique_ptr<Transport>(new StreamTransport(channel, options));
  }
  return absl::InvalidArgumentError("unknown mode");
}

}  // namespace sasmint::client::internal
