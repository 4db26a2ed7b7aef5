#include "service/token_service.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "service/log.h"

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
                                    const v1::MintTokenRequest& request, absl::Time now,
                                    const Caller& caller) {
  absl::StatusOr<MintRequest> parsed = ToMintRequest(request);
  if (!parsed.ok()) return parsed.status();
  if (absl::Status s = Authorize(caller.rule, parsed->scope); !s.ok()) {
    LogDenied(caller, "MintToken", s);
    return s;
  }
  return minter.Mint(table, *parsed, now);
}

const absl::Status& NotReady() {
  static const absl::Status* const kStatus =
      new absl::Status(absl::UnavailableError("keys are not loaded yet"));
  return *kStatus;
}

}  // namespace

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

absl::StatusOr<Caller> ResolveCaller(const Authorizer& authorizer,
                                     const grpc::ServerContextBase& context,
                                     absl::string_view method) {
  Caller caller;
  if (!authorizer.enabled()) return caller;
  const CallerIdentity identity = CallerIdentityOf(context);
  caller.identity = identity.Describe();
  caller.rule = authorizer.Match(identity);
  if (caller.rule == nullptr) {
    const absl::Status denied = absl::PermissionDeniedError(
        absl::StrCat("caller ", caller.identity, " matches no rule of the callers configuration"));
    LogDenied(caller, method, denied);
    return denied;
  }
  return caller;
}

void LogDenied(const Caller& caller, absl::string_view method, const absl::Status& denial,
               int denied_items) {
  Log(LogLevel::kWarning, "permission denied",
      {{"caller", caller.rule == nullptr ? absl::string_view("(none)") : caller.rule->name},
       {"identity", caller.identity},
       {"method", method},
       {"denied_items", absl::StrCat(denied_items)},
       {"first", denial.message()}});
}

absl::StatusOr<KeySlot> ToKeySlot(v1::KeySlot slot) {
  switch (slot) {
    case v1::KEY_SLOT_UNSPECIFIED:
      return KeySlot::kActive;
    case v1::KEY_SLOT_PRIMARY:
      return KeySlot::kPrimary;
    case v1::KEY_SLOT_SECONDARY:
      return KeySlot::kSecondary;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key_slot value ", static_cast<int>(slot)));
  }
}

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
  absl::StatusOr<KeySlot> slot = ToKeySlot(request.key_slot());
  if (!slot.ok()) return slot.status();
  out.key_slot = *slot;
  return out;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::StatusOr<uint32_t> ToRight(v1::Right right) {
  switch (right) {
    case v1::RIGHT_UNSPECIFIED:
      return 0;
    case v1::RIGHT_DEVICE_CONNECT:
      return kDeviceConnect;
    case v1::RIGHT_SERVICE_CONNECT:
      return kServiceConnect;
    case v1::RIGHT_REGISTRY_READ:
      return kRegistryRead;
    case v1::RIGHT_REGISTRY_WRITE:
      return kRegistryWrite;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown right value ", static_cast<int>(right)));
  }
}

absl::StatusOr<VerifyTarget> ResolveVerifyTarget(const v1::VerifyTokenRequest& request,
                                                 const VerifyOptions& options) {
  const bool has_token = !request.token().empty();
  const bool has_cert = !request.certificate_pem().empty();
  if (has_token == has_cert) {
    return absl::InvalidArgumentError(
        "set exactly one of token and certificate_pem (with identity)");
  }
  VerifyTarget target;
  if (has_token) {
    target.token = InspectToken(request.token(), options);
    target.scopes = target.token->scopes;
    return target;
  }
  const v1::Identity& id = request.identity();
  const TokenScope scope = id.module_id().empty()
                               ? TokenScope::Device(id.hub(), id.device_id())
                               : TokenScope::Module(id.hub(), id.device_id(), id.module_id());
  if (absl::Status s = ValidateScope(scope); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a certificate check needs the identity it is for: ", s.message()));
  }
  absl::StatusOr<CertificateInfo> cert = InspectCertificatePem(request.certificate_pem());
  if (!cert.ok()) return cert.status();
  target.certificate = *std::move(cert);
  target.scopes.push_back(scope);
  return target;
}

void FillVerifyResponse(const VerifyReport& report, v1::VerifyTokenResponse* response) {
  response->set_verdict(std::string(VerdictName(report.verdict)));
  response->set_message(report.message);
  for (const Finding& f : report.findings) {
    v1::Finding* out = response->add_findings();
    out->set_verdict(std::string(VerdictName(f.verdict)));
    out->set_message(f.message);
  }
  for (const std::string& note : report.notes) response->add_notes(note);
  if (report.matched_key) {
    v1::MatchedKey* m = response->mutable_matched_key();
    m->set_slot(ToProtoSlot(report.matched_key->slot));
    m->set_version(report.matched_key->version);
    m->set_retired(report.matched_key->retired);
    m->set_retired_at(report.matched_key->retired_at);
    m->set_owner(report.matched_key->owner);
  }
  if (report.expires_at) response->set_expires_at(*report.expires_at);
  if (report.certificate) {
    v1::CertificateSummary* c = response->mutable_certificate();
    c->set_sha1_thumbprint(report.certificate->sha1_thumbprint);
    c->set_sha256_thumbprint(report.certificate->sha256_thumbprint);
    c->set_not_before(report.certificate->not_before);
    c->set_not_after(report.certificate->not_after);
    c->set_subject(report.certificate->subject);
  }
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
  reactor->Finish(ToGrpcStatus(MintUnary(*context, *request, response)));
  return reactor;
}

absl::Status TokenServiceImpl::MintUnary(const grpc::ServerContextBase& context,
                                         const v1::MintTokenRequest& request,
                                         v1::MintTokenResponse* response) const {
  if (absl::Status s = Admit(); !s.ok()) return s;
  absl::StatusOr<Caller> caller = ResolveCaller(*authorizer_, context, "MintToken");
  if (!caller.ok()) return caller.status();
  // A pin, not a Snapshot: the call is minted right here, and a pin shares no reference count
  // (no cache line) with the other threads minting at the same time.
  const KeyStore::Pin pin(*store_);
  if (pin.table() == nullptr) return NotReady();
  absl::StatusOr<MintedToken> minted =
      MintOne(minter_, *pin.table(), request, clock_->Now(), *caller);
  if (!minted.ok()) return minted.status();
  FillResponse(*minted, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TokenServiceImpl::VerifyToken(grpc::CallbackServerContext* context,
                                                        const v1::VerifyTokenRequest* request,
                                                        v1::VerifyTokenResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(VerifyUnary(*context, *request, response)));
  return reactor;
}

absl::Status TokenServiceImpl::VerifyUnary(const grpc::ServerContextBase& context,
                                           const v1::VerifyTokenRequest& request,
                                           v1::VerifyTokenResponse* response) const {
  if (absl::Status s = Admit(); !s.ok()) return s;
  absl::StatusOr<Caller> caller = ResolveCaller(*authorizer_, context, "VerifyToken");
  if (!caller.ok()) return caller.status();
  const KeyStore::Pin pin(*store_);
  if (pin.table() == nullptr) return NotReady();
  VerifyOptions options;
  // The server's clock only: a client-supplied "now" would let a caller test a token at any time.
  options.now = absl::ToUnixSeconds(clock_->Now());
  options.max_lifetime_seconds = std::max<int64_t>(0, request.max_lifetime_seconds());
  absl::StatusOr<uint32_t> right = ToRight(request.right());
  if (!right.ok()) return right.status();
  options.right = *right;
  absl::StatusOr<VerifyTarget> target = ResolveVerifyTarget(request, options);
  if (!target.ok()) return target.status();
  // AUTHORIZATION POINT. Verifying is authorized like minting (DESIGN.md §4): a caller that may
  // not mint for a scope must not learn whether its keys or registry entry match. target->scopes
  // holds every scope the verification below looks up (the token's reading by IoT Hub and the
  // readings it may have meant, or the certificate's identity); nothing has been looked up yet.
  // Each one is checked here, and any denial answers PERMISSION_DENIED before the lookup.
  for (const TokenScope& scope : target->scopes) {
    if (absl::Status s = Authorize(caller->rule, scope); !s.ok()) {
      LogDenied(*caller, "VerifyToken", s);
      return s;
    }
  }
  const VerifyKeys keys = VerifyKeys::Table(*pin.table());
  const VerifyReport report =
      target->token
          ? VerifyInspected(*target->token, options, keys)
          : VerifyCertificate(*target->certificate, target->scopes.front(), options, keys);
  FillVerifyResponse(report, response);
  response->set_server_time(options.now);
  return absl::OkStatus();
}

TokenServiceImpl::TokenServiceImpl(const KeyStore* store, const Clock* clock, MintOptions options,
                                   BatchSigner signer, PoolOptions pool,
                                   std::shared_ptr<const Authorizer> authorizer)
    : store_(store),
      clock_(clock),
      authorizer_(authorizer != nullptr
                      ? std::move(authorizer)
                      : std::make_shared<const Authorizer>(Authorizer::Disabled())),
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
                                                      Caller caller, const char* method) const {
  if (absl::Status s = Admit(); !s.ok()) return s;
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
  response->set_batch_id(request.batch_id());
  response->mutable_results()->Reserve(request.requests_size());
  return job;
}

bool TokenServiceImpl::MintSlice(BatchJob& job, size_t max_items) const {
  const int begin = job.next;
  const int end =
      static_cast<int>(std::min<size_t>(job.request->requests_size(), begin + max_items));
  const int64_t now = absl::ToUnixSeconds(job.now);
  // Per-thread scratch, reused across slices: once these have grown, resolving and signing a
  // slice allocates nothing but the response messages (on the call's arena).
  thread_local std::vector<ResolvedMint> resolved;
  thread_local std::vector<TokenJob> jobs;
  thread_local std::vector<v1::MintTokenResponse*> outputs;
  thread_local MintedTokens tokens;
  size_t used = 0;
  jobs.clear();
  outputs.clear();
  const IdentityTable& table = *job.table;
  // Lookups into millions of identities are cache misses, and overlapping them is most of their
  // cost: item i + kAhead is hashed and its hot line prefetched; item i + kKeysAhead, whose line
  // has arrived by then, is authorized, found, and its keys prefetched; item i is minted. Each
  // identity's hash and authorization are computed once and kept in a small ring.
  constexpr int kAhead = 8;
  constexpr int kKeysAhead = 4;
  constexpr int kRing = 16;  // > kAhead: item i + kAhead never overwrites item i
  uint64_t hashes[kRing];
  absl::Status authorized[kRing];
  const auto prefetch = [&](int i) {
    if (i >= end) return;
    const v1::MintTokenRequest& item = job.request->requests(i);
    if (item.scope_case() == v1::MintTokenRequest::kIdentity) {
      const uint64_t hash = IdentityTable::IdentityHash(
          item.identity().hub(), item.identity().device_id(), item.identity().module_id());
      hashes[i % kRing] = hash;
      table.PrefetchIdentity(hash);
    }
  };
  // Authorization comes before every lookup, so a denial reads the same whether or not the
  // identity exists; an allowed item costs a few string comparisons.
  const auto authorize_and_prefetch_keys = [&](int i) {
    if (i >= end) return;
    const v1::MintTokenRequest& item = job.request->requests(i);
    if (item.scope_case() != v1::MintTokenRequest::kIdentity) return;
    const v1::Identity& id = item.identity();
    absl::Status& status = authorized[i % kRing];
    status = AuthorizeIdentity(job.caller.rule, id.hub(), id.device_id(), id.module_id());
    if (status.ok()) {
      IdentityTable::PrefetchKeys(
          table.Find(id.hub(), id.device_id(), id.module_id(), hashes[i % kRing]));
    }
  };
  for (int i = begin; i < begin + kAhead; ++i) prefetch(i);
  for (int i = begin; i < begin + kKeysAhead; ++i) authorize_and_prefetch_keys(i);
  for (int i = begin; i < end; ++i) {
    prefetch(i + kAhead);
    authorize_and_prefetch_keys(i + kKeysAhead);
    v1::MintResult* result = job.response->add_results();
    if (used == resolved.size()) resolved.emplace_back();
    ResolvedMint* r = &resolved[used];
    const v1::MintTokenRequest& item = job.request->requests(i);
    absl::Status status;
    if (item.scope_case() == v1::MintTokenRequest::kIdentity) {
      const v1::Identity& id = item.identity();
      status = std::move(authorized[i % kRing]);
      if (status.ok()) {
        absl::StatusOr<KeySlot> slot = ToKeySlot(item.key_slot());
        status = slot.ok()
                     ? minter_.ResolveIdentityInto(table, id.hub(), id.device_id(), id.module_id(),
                                                   item.ttl_seconds(), *slot, r, hashes[i % kRing])
                     : slot.status();
      }
    } else {
      absl::StatusOr<MintRequest> request = ToMintRequest(item);
      status = request.ok() ? Authorize(job.caller.rule, request->scope) : request.status();
      if (status.ok()) status = minter_.ResolveInto(table, *request, r);
    }
    if (!status.ok()) {
      if (absl::IsPermissionDenied(status) && job.denied++ == 0) job.first_denial = status;
      result->mutable_error()->set_code(static_cast<int32_t>(status.code()));
      result->mutable_error()->set_message(std::string(status.message()));
      continue;
    }
    ++used;
    outputs.push_back(result->mutable_token());
  }
  for (size_t k = 0; k < used; ++k) {
    const ResolvedMint& r = resolved[k];
    jobs.push_back(TokenJob{&r.key(), r.encoded_resource(), r.key_name(),
                            now + static_cast<int64_t>(r.ttl_seconds())});
  }
  const absl::Status signed_ok = minter_.signer().MintBatch(jobs, &tokens);
  for (size_t k = 0; k < used && signed_ok.ok(); ++k) {
    v1::MintTokenResponse* out = outputs[k];
    FillResponse(minter_.Complete(resolved[k], now), out);
    out->set_token(tokens[k].data(), tokens[k].size());
  }
  if (!signed_ok.ok()) {
    // Only an expiry past year 9999 gets here, and the whole slice shares it.
    for (int i = begin; i < end; ++i) {
      v1::MintResult* result = job.response->mutable_results(i);
      if (!result->has_token()) continue;
      result->mutable_error()->set_code(static_cast<int32_t>(signed_ok.code()));
      result->mutable_error()->set_message(std::string(signed_ok.message()));
    }
  }
  // DPS device keys derived for this slice are wiped now rather than when the slot is reused.
  for (size_t k = 0; k < used; ++k) resolved[k].ClearDerivedKey();
  job.next = end;
  if (job.done() && job.denied > 0) {
    LogDenied(job.caller, job.method, job.first_denial, job.denied);
  }
  return !job.done();
}

absl::Status TokenServiceImpl::MintBatch(const v1::MintTokensRequest& request,
                                         v1::MintTokensResponse* response) const {
  absl::StatusOr<BatchJob> job = StartBatch(request, response);
  if (!job.ok()) return job.status();
  while (MintSlice(*job, job->request->requests_size())) {
  }
  return absl::OkStatus();
}

namespace {

// UnaryBatchTask mints one MintTokens call on the pool and finishes its reactor.
class UnaryBatchTask final : public SlicedTask {
 public:
  UnaryBatchTask(const TokenServiceImpl* service, grpc::CallbackServerContext* context,
                 grpc::ServerUnaryReactor* reactor, BatchJob job)
      : service_(service), context_(context), reactor_(reactor), job_(std::move(job)) {}

  bool RunSlice() override {
    // A cancelled call (client gone, deadline passed) stops using CPU at the next slice.
    if (context_->IsCancelled()) {
      cancelled_ = true;
      return false;
    }
    return service_->MintSlice(job_, service_->slice_items());
  }

  void Finish() override {
    reactor_->Finish(cancelled_ ? grpc::Status::CANCELLED : grpc::Status::OK);
    delete this;
  }

 private:
  const TokenServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  grpc::ServerUnaryReactor* const reactor_;
  BatchJob job_;
  bool cancelled_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* TokenServiceImpl::MintTokens(grpc::CallbackServerContext* context,
                                                       const v1::MintTokensRequest* request,
                                                       v1::MintTokensResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = ResolveCaller(*authorizer_, *context, "MintTokens");
  if (!caller.ok()) {
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  absl::StatusOr<BatchJob> job = StartBatch(*request, response, *std::move(caller));
  if (!job.ok()) {
    reactor->Finish(ToGrpcStatus(job.status()));
    return reactor;
  }
  if (static_cast<size_t>(request->requests_size()) <= slice_items_) {
    MintSlice(*job, slice_items_);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  auto* task = new UnaryBatchTask(this, context, reactor, *std::move(job));
  if (absl::Status s = pool_->Submit(task); !s.ok()) {
    delete task;
    response->Clear();
    reactor->Finish(ToGrpcStatus(s));
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
      : service_(service), context_(context) {
    // The caller is resolved once per stream; an unknown one ends it before anything is read.
    absl::StatusOr<Caller> caller = ResolveCaller(service_->authorizer(), *context, "StreamTokens");
    if (!caller.ok()) {
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        finished_ = true;
      }
      Finish(ToGrpcStatus(caller.status()));
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
    absl::StatusOr<BatchJob> job = service_->StartBatch(*request_, out, caller_, "StreamTokens");
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
  void BatchDone(int target, const absl::Status& status) {
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
    if (next.finish) Finish(next.status);
  }

  TokenServiceImpl* const service_;
  grpc::CallbackServerContext* const context_;
  Caller caller_;  // set in the constructor, read-only after
  absl::Mutex mu_;
  // Messages live on arenas that are reset for each batch: a batch's thousands of result
  // messages and strings then cost a few block allocations, not several mallocs each (protobuf
  // frees oneof members on Clear, so reusing heap messages does not avoid them).
  static google::protobuf::ArenaOptions ArenaOptionsForBatches() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 4096;
    options.max_block_size = 1 << 20;
    return options;
  }
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

  google::protobuf::Arena request_arena_{ArenaOptionsForBatches()};
  google::protobuf::Arena response_arenas_[2] = {google::protobuf::Arena(ArenaOptionsForBatches()),
                                                 google::protobuf::Arena(ArenaOptionsForBatches())};
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
