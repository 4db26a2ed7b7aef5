#include "service/rpc/token_service.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "service/rpc/caller_context.h"
#include "service/rpc/conversions.h"
#include "service/verify/verify_request.h"

namespace sasmint {
namespace {

const absl::Status& NotReady() {
  static const absl::Status* const kStatus =
      new absl::Status(absl::UnavailableError("keys are not loaded yet"));
  return *kStatus;
}

// ThreadScratch is the calling thread's minting memory: every mint of the service (unary, a
// batch slice) runs to completion on one thread, so one per thread is enough, and once it has
// grown to the largest slice minting allocates nothing.
MintScratch& ThreadScratch() {
  thread_local MintScratch scratch;
  return scratch;
}

// FinishObserved ends an observed unary call with what `observer` makes of `status`; a status
// it turns into an error (a required audit record refused) withholds the response.
template <typename Response>
void FinishObserved(grpc::ServerUnaryReactor* reactor, CallObserver& observer,
                    const absl::Status& status, Response* response) {
  const absl::Status out = observer.Finish(status);
  if (!out.ok()) response->Clear();
  reactor->Finish(ToGrpcStatus(out));
}

}  // namespace

absl::Status TokenServiceImpl::Admit(CallObserver* observer) const {
  if (draining()) {
    if (observer != nullptr) observer->Overloaded(OverloadReason::kDraining);
    return absl::UnavailableError("server is shutting down; retry on another replica");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenServiceImpl::MintToken(grpc::CallbackServerContext* context,
                                                      const v1::MintTokenRequest* request,
                                                      v1::MintTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!observers_.any()) {
    reactor->Finish(ToGrpcStatus(MintUnary(*context, *request, response, nullptr)));
    return reactor;
  }
  CallObserver observer(observers_, RpcMethod::kMintToken, *context);
  FinishObserved(reactor, observer, MintUnary(*context, *request, response, &observer), response);
  return reactor;
}

absl::Status TokenServiceImpl::MintUnary(const grpc::ServerContextBase& context,
                                         const v1::MintTokenRequest& request,
                                         v1::MintTokenResponse* response,
                                         CallObserver* observer) const {
  if (absl::Status s = Admit(observer); !s.ok()) return s;
  absl::StatusOr<Caller> caller = ResolveCallerFor(*authorizer_, context, "MintToken", observer);
  if (!caller.ok()) return caller.status();
  // A pin, not a Snapshot: the call is minted right here, and a pin shares no reference count
  // (no cache line) with the other threads minting at the same time.
  const KeyStore::Pin pin(*store_);
  if (pin.table() == nullptr) return NotReady();
  const MintItem item = ToMintItem(request);
  MintOutcome outcome;
  Denials denials;
  const absl::Time now = clock_->Now();
  batch_minter_.Mint(*pin.table(), now, caller->rule, absl::MakeConstSpan(&item, 1),
                     absl::MakeSpan(&outcome, 1), &ThreadScratch(), &denials);
  if (observer != nullptr) {
    observer->AddMinted(absl::MakeConstSpan(&item, 1), absl::MakeConstSpan(&outcome, 1), now);
    observer->AddDenials(denials);
  }
  if (denials.count > 0) LogDenied(*caller, "MintToken", denials.first);
  if (!outcome.status.ok()) return outcome.status;
  FillMintResponse(outcome, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenServiceImpl::VerifyToken(grpc::CallbackServerContext* context,
                                                        const v1::VerifyTokenRequest* request,
                                                        v1::VerifyTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!observers_.any()) {
    reactor->Finish(ToGrpcStatus(VerifyUnary(*context, *request, response, nullptr)));
    return reactor;
  }
  CallObserver observer(observers_, RpcMethod::kVerifyToken, *context);
  FinishObserved(reactor, observer, VerifyUnary(*context, *request, response, &observer), response);
  return reactor;
}

absl::Status TokenServiceImpl::VerifyUnary(const grpc::ServerContextBase& context,
                                           const v1::VerifyTokenRequest& request,
                                           v1::VerifyTokenResponse* response,
                                           CallObserver* observer) const {
  if (absl::Status s = Admit(observer); !s.ok()) return s;
  absl::StatusOr<Caller> caller = ResolveCallerFor(*authorizer_, context, "VerifyToken", observer);
  if (!caller.ok()) return caller.status();
  const KeyStore::Pin pin(*store_);
  if (pin.table() == nullptr) return NotReady();
  absl::StatusOr<VerifyRequest> verify = ToVerifyRequest(request);
  if (!verify.ok()) return verify.status();
  const int64_t now = absl::ToUnixSeconds(clock_->Now());
  absl::StatusOr<VerifyReport> report = VerifyForCaller(*verify, caller->rule, *pin.table(), now);
  if (!report.ok()) {
    if (absl::IsPermissionDenied(report.status())) {
      LogDenied(*caller, "VerifyToken", report.status());
      if (observer != nullptr) observer->AddDenials(Denials{1, report.status()});
    }
    return report.status();
  }
  FillVerifyResponse(*report, response);
  response->set_server_time(now);
  return absl::OkStatus();
}

TokenServiceImpl::TokenServiceImpl(const KeyStore* store, const Clock* clock, MintOptions options,
                                   BatchSigner signer, PoolOptions pool,
                                   std::shared_ptr<const Authorizer> authorizer,
                                   Observers observers)
    : store_(store),
      clock_(clock),
      authorizer_(authorizer != nullptr
                      ? std::move(authorizer)
                      : std::make_shared<const Authorizer>(Authorizer::Disabled())),
      observers_(observers),
      minter_(options, signer),
      slice_items_(pool.slice_items > 0 ? pool.slice_items : 256),
      pool_(std::make_unique<WorkPool>(
          pool.threads > 0 ? pool.threads
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency())),
          pool.max_queued_batches)) {
  SetMessageAllocatorFor_MintToken(&unary_allocator_);
  SetMessageAllocatorFor_MintTokens(&batch_allocator_);
}

TokenServiceImpl::~TokenServiceImpl() = default;

absl::StatusOr<BatchJob> TokenServiceImpl::StartBatch(const v1::MintTokensRequest& request,
                                                      v1::MintTokensResponse* response,
                                                      Caller caller, const char* method,
                                                      CallObserver* observer) const {
  if (absl::Status s = Admit(observer); !s.ok()) return s;
  const uint32_t max_batch = minter_.options().max_batch_size;
  if (static_cast<uint64_t>(request.requests_size()) > max_batch) {
    return absl::InvalidArgumentError(absl::StrCat("batch of ", request.requests_size(),
                                                   " requests exceeds the maximum of ", max_batch));
  }
  BatchJob job;
  job.table = store_->Snapshot();
  if (job.table == nullptr) return NotReady();
  // One clock reading per batch: every token of a batch shares its expiry second.
  job.now = clock_->Now();
  job.request = &request;
  job.response = response;
  job.caller = std::move(caller);
  job.method = method;
  job.observer = observer;
  if (observer != nullptr) observer->BeginBatch(request.requests_size());
  response->set_batch_id(request.batch_id());
  response->mutable_results()->Reserve(request.requests_size());
  return job;
}

bool TokenServiceImpl::MintSlice(BatchJob& job, size_t max_items) const {
  const int begin = job.next;
  const int end =
      static_cast<int>(std::min<size_t>(job.request->requests_size(), begin + max_items));
  // Per-thread, reused across slices like the scratch: converting and minting a slice then
  // allocates nothing but the response messages (on the call's arena).
  thread_local std::vector<MintItem> items;
  thread_local std::vector<MintOutcome> outcomes;
  items.resize(end - begin);
  outcomes.resize(end - begin);
  for (int i = begin; i < end; ++i) items[i - begin] = ToMintItem(job.request->requests(i));
  batch_minter_.Mint(*job.table, job.now, job.caller.rule, items, absl::MakeSpan(outcomes),
                     &ThreadScratch(), &job.denials);
  for (const MintOutcome& outcome : outcomes) FillMintResult(outcome, job.response->add_results());
  if (job.observer != nullptr) job.observer->AddMinted(items, outcomes, job.now);
  job.next = end;
  if (job.done() && job.denials.count > 0) {
    LogDenied(job.caller, job.method, job.denials.first, job.denials.count);
    if (job.observer != nullptr) job.observer->AddDenials(job.denials);
  }
  return !job.done();
}

namespace {

// UnaryBatchTask mints one MintTokens call on the pool and finishes its reactor.
class UnaryBatchTask final : public SlicedTask {
 public:
  UnaryBatchTask(const TokenServiceImpl* service, grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, v1::MintTokensResponse* response)
      : service_(service),
        context_(context),
        reactor_(reactor),
        response_(response),
        observer_(service->observers(), RpcMethod::kMintTokens, *context) {}

  // Start admits the batch; an error finishes nothing (the caller finishes the call).
  absl::Status Start(const v1::MintTokensRequest& request) {
    absl::StatusOr<Caller> caller =
        ResolveCallerFor(service_->authorizer(), *context_, "MintTokens", &observer_);
    if (!caller.ok()) return caller.status();
    absl::StatusOr<BatchJob> job =
        service_->StartBatch(request, response_, *std::move(caller), "MintTokens", &observer_);
    if (!job.ok()) return job.status();
    job_ = *std::move(job);
    return absl::OkStatus();
  }
  bool small() const {
    return static_cast<size_t>(job_.request->requests_size()) <= service_->slice_items();
  }
  CallObserver& observer() { return observer_; }

  // FinishCall ends the call with `status` (the observer may turn it into UNAVAILABLE, which
  // withholds the tokens).
  void FinishCall(const absl::Status& status) {
    FinishObserved(reactor_, observer_, status, response_);
  }

  bool RunSlice() override {
    // A cancelled call (client gone, deadline passed) stops using CPU at the next slice.
    if (context_->IsCancelled()) {
      cancelled_ = true;
      return false;
    }
    return service_->MintSlice(job_, service_->slice_items());
  }

  void Finish() override {
    FinishCall(cancelled_ ? absl::CancelledError("the call was cancelled") : absl::OkStatus());
    delete this;
  }

 private:
  const TokenServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  grpc::ServerUnaryReactor* const reactor_;
  v1::MintTokensResponse* const response_;
  CallObserver observer_;
  BatchJob job_;
  bool cancelled_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* TokenServiceImpl::MintTokens(grpc::CallbackServerContext* context,
                                                       const v1::MintTokensRequest* request,
                                                       v1::MintTokensResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!observers_.any() && static_cast<size_t>(request->requests_size()) <= slice_items_) {
    absl::StatusOr<Caller> caller = CallerOf(*authorizer_, *context, "MintTokens");
    if (!caller.ok()) {
      reactor->Finish(ToGrpcStatus(caller.status()));
      return reactor;
    }
    absl::StatusOr<BatchJob> job = StartBatch(*request, response, *std::move(caller));
    if (!job.ok()) {
      reactor->Finish(ToGrpcStatus(job.status()));
      return reactor;
    }
    MintSlice(*job, slice_items_);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Observed calls, and large batches (which go to the pool), carry their state in a task.
  auto* task = new UnaryBatchTask(this, context, reactor, response);
  if (absl::Status s = task->Start(*request); !s.ok()) {
    task->FinishCall(s);
    delete task;
    return reactor;
  }
  if (task->small()) {
    while (task->RunSlice()) {
    }
    task->FinishCall(absl::OkStatus());
    delete task;
    return reactor;
  }
  if (absl::Status s = pool_->Submit(task); !s.ok()) {
    task->observer().Overloaded(OverloadReason::kQueueFull);
    task->FinishCall(s);
    delete task;
  }
  return reactor;
}

namespace {

// TokenStream is the reactor of one StreamTokens call. gRPC may run OnReadDone and OnWriteDone
// concurrently, so the state is guarded; gRPC operations are started after the lock is released.
class TokenStream final
    : public grpc::ServerBidiReactor<v1::MintTokensRequest, v1::MintTokensResponse> {
 public:
  TokenStream(TokenServiceImpl* service, grpc::CallbackServerContext* context)
      : service_(service),
        context_(context),
        observer_(service->observers(), RpcMethod::kStreamTokens, *context) {
    // The caller is resolved once per stream; an unknown one ends it before anything is read.
    absl::StatusOr<Caller> caller =
        ResolveCallerFor(service_->authorizer(), *context, "StreamTokens", &observer_);
    absl::Status opened = caller.status();
    if (opened.ok()) opened = observer_.StreamOpened();
    if (!opened.ok()) {
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        finished_ = true;
      }
      observer_.StreamClosed(opened);
      Finish(ToGrpcStatus(opened));
      return;
    }
    caller_ = *std::move(caller);
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = true;
    }
    StartNextRead();
  }

  void OnReadDone(bool ok) override {
    int target = 0;
    bool stopped = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        read_pending_ = false;
        reads_done_ = true;  // the client half-closed, or the call is over
        stopped = true;
      } else {
        // Only one batch is minted at a time, into the buffer that is not being written.
        target = writing_ ? 1 - current_ : current_;
        stopped = reads_done_;  // the stream already failed (a write did): drop the batch
      }
    }
    if (stopped) {
      BatchDone(0, absl::CancelledError());
      return;
    }
    v1::MintTokensResponse* out = FreshResponse(target);
    absl::StatusOr<BatchJob> job =
        service_->StartBatch(*request_, out, caller_, "StreamTokens", &observer_);
    if (!job.ok()) {
      BatchDone(target, job.status());
      return;
    }
    if (static_cast<size_t>(request_->requests_size()) <= service_->slice_items()) {
      service_->MintSlice(*job, service_->slice_items());
      BatchDone(target, absl::OkStatus());
      return;
    }
    auto* task = new BatchTask(this, target, *std::move(job));
    if (absl::Status s = service_->pool().Submit(task); !s.ok()) {
      delete task;
      observer_.Overloaded(OverloadReason::kQueueFull);
      BatchDone(target, s);
    }
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
        next.write = responses_[current_];
        writing_ = true;
      }
      next = Decide(next);
    }
    Run(next);
  }

  void OnDone() override { delete this; }

 private:
  // BatchTask mints a large batch of the stream on the pool.
  class BatchTask final : public SlicedTask {
   public:
    BatchTask(TokenStream* stream, int target, BatchJob job)
        : stream_(stream), target_(target), job_(std::move(job)) {}
    bool RunSlice() override {
      if (stream_->context_->IsCancelled()) {
        cancelled_ = true;
        return false;
      }
      return stream_->service_->MintSlice(job_, stream_->service_->slice_items());
    }
    void Finish() override {
      TokenStream* stream = stream_;
      const int target = target_;
      const bool cancelled = cancelled_;
      delete this;  // before BatchDone, which may end the stream
      stream->BatchDone(target, cancelled ? absl::CancelledError() : absl::OkStatus());
    }

   private:
    TokenStream* const stream_;
    const int target_;
    BatchJob job_;
    bool cancelled_ = false;
  };

  // BatchDone continues the stream after the batch read last has been minted into
  // responses_[target] (or failed with `status`, or was dropped with CANCELLED).
  void BatchDone(int target, absl::Status status) {
    // A batch whose audit record cannot be kept (audit.required) is not answered.
    if (status.ok()) status = observer_.StreamBatchDone();
    Actions next;
    {
      absl::MutexLock lock(&mu_);
      read_pending_ = false;
      if (absl::IsCancelled(status)) {
        // Dropped: the stream is already ending.
      } else if (!status.ok()) {
        // A bad batch (or overload) ends the stream; results already sent stay valid.
        status_ = ToGrpcStatus(status);
        reads_done_ = true;
      } else if (writing_) {
        ready_ = true;  // written from OnWriteDone; the next read waits until then
      } else {
        current_ = target;
        next.write = responses_[target];
        writing_ = true;
      }
      next = Decide(next);
    }
    Run(next);
  }

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
    if (next.read) StartNextRead();
    if (next.finish) {
      observer_.StreamClosed(absl::Status(static_cast<absl::StatusCode>(next.status.error_code()),
                                          next.status.error_message()));
      Finish(next.status);
    }
  }

  TokenServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  Caller caller_;  // set in the constructor, read-only after
  // Batches are serial, so one thread at a time uses it; StreamClosed runs once, at Finish.
  CallObserver observer_;
  absl::Mutex mu_;
  // Messages live on arenas that are reset for each batch: a batch's thousands of result
  // messages and strings then cost a few block allocations, not several mallocs each (protobuf
  // frees oneof members on Clear, so reusing heap messages does not avoid them).
  // StartNextRead reads into a fresh request: nothing refers to the previous one any more (its
  // batch has been minted into a response).
  void StartNextRead() {
    request_arena_.Reset();
    request_ = google::protobuf::Arena::CreateMessage<v1::MintTokensRequest>(&request_arena_);
    StartRead(request_);
  }
  // FreshResponse returns an empty response in buffer `target`, which is not being written.
  v1::MintTokensResponse* FreshResponse(int target) {
    response_arenas_[target].Reset();
    responses_[target] =
        google::protobuf::Arena::CreateMessage<v1::MintTokensResponse>(&response_arenas_[target]);
    return responses_[target];
  }

  google::protobuf::Arena request_arena_{internal::ArenaOptionsForBatches()};
  google::protobuf::Arena response_arenas_[2] = {
      google::protobuf::Arena(internal::ArenaOptionsForBatches()),
      google::protobuf::Arena(internal::ArenaOptionsForBatches())};
  v1::MintTokensRequest* request_ = nullptr;  // written by gRPC between StartRead and OnReadDone
  // [current_] is being written; the other may be ready.
  v1::MintTokensResponse* responses_[2] = {nullptr, nullptr};
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
  return new TokenStream(this, context);
}

}  // namespace sasmint
