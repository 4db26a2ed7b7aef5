// token_service.h: the gRPC TokenService (callback API).
//
// TokenServiceImpl converts sasmint.v1 requests into MintItems (conversions.h), mints them with
// the BatchMinter against the KeyStore's current snapshot, and converts the outcomes back. It
// never blocks inside a reactor: batches larger than a slice are minted on a WorkPool, one slice
// at a time, round-robin with other batches, so one large caller cannot starve the others.
// VerifyToken runs VerifyForCaller against the same snapshot, at the server's clock. The caller's
// rule is found once per call from its verified certificate; the BatchMinter then authorizes
// every item before any key is looked up, and denials are logged, one JSON line per call.
// Thread-safe: gRPC calls it from many threads; it holds no mutable state of its own but the
// draining flag.
#ifndef SASMINT_SERVICE_RPC_TOKEN_SERVICE_H_
#define SASMINT_SERVICE_RPC_TOKEN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/authz/authorizer.h"
#include "service/config/server_options.h"
#include "service/keystore/key_store.h"
#include "service/mint/batch_minter.h"
#include "service/mint/minter.h"
#include "service/rpc/call_observer.h"
#include "service/rpc/internal/arena_allocator.h"
#include "service/rpc/work_pool.h"

namespace sasmint {

// BatchJob is a batch being minted: the snapshot and time it is minted against, and how far it
// has got. Results are appended to `response` in request order.
struct BatchJob {
  std::shared_ptr<const IdentityTable> table;
  absl::Time now;
  const v1::MintTokensRequest* request = nullptr;
  v1::MintTokensResponse* response = nullptr;
  int next = 0;
  Caller caller;  // every item is authorized for caller.rule before its lookup
  const char* method = "";
  Denials denials;                   // logged once, when the batch is done
  CallObserver* observer = nullptr;  // counts and audits the batch, when set

  bool done() const { return next >= request->requests_size(); }
};

class TokenServiceImpl final : public v1::TokenService::CallbackService {
 public:
  // The store and clock must outlive the service, and so must the observers' metrics and
  // audit log. A null `authorizer` turns authorization off.
  TokenServiceImpl(const KeyStore* store, const Clock* clock, MintOptions options,
                   BatchSigner signer, PoolOptions pool = {},
                   std::shared_ptr<const Authorizer> authorizer = nullptr,
                   Observers observers = {});
  ~TokenServiceImpl() override;

  grpc::ServerUnaryReactor* MintToken(grpc::CallbackServerContext* context,
                                      const v1::MintTokenRequest* request,
                                      v1::MintTokenResponse* response) override;
  grpc::ServerUnaryReactor* MintTokens(grpc::CallbackServerContext* context,
                                       const v1::MintTokensRequest* request,
                                       v1::MintTokensResponse* response) override;
  // StreamTokens answers each batch in order. A stream holds at most one request being read and
  // two responses (one being written, one ready), so a client that stops reading stops the
  // server reading too (HTTP/2 flow control) and memory per stream stays bounded.
  grpc::ServerBidiReactor<v1::MintTokensRequest, v1::MintTokensResponse>* StreamTokens(
      grpc::CallbackServerContext* context) override;
  // VerifyToken answers with a verdict, even for tokens IoT Hub would reject; the call fails only
  // for a bad request (INVALID_ARGUMENT, see ResolveVerifyTarget), a caller who may not mint for
  // the token's scopes (PERMISSION_DENIED) or before keys are loaded (UNAVAILABLE). It never
  // returns key bytes or the expected signature.
  grpc::ServerUnaryReactor* VerifyToken(grpc::CallbackServerContext* context,
                                        const v1::VerifyTokenRequest* request,
                                        v1::VerifyTokenResponse* response) override;

  // StartBatch admits a batch of `caller`: INVALID_ARGUMENT if it exceeds the maximum size,
  // UNAVAILABLE before keys are loaded or while draining. Sets the response's batch_id.
  absl::StatusOr<BatchJob> StartBatch(const v1::MintTokensRequest& request,
                                      v1::MintTokensResponse* response, Caller caller = {},
                                      const char* method = "MintTokens",
                                      CallObserver* observer = nullptr) const;
  // MintSlice mints up to `max_items` more items of `job`; returns whether items remain. Items
  // the caller may not mint fail alone with PERMISSION_DENIED.
  bool MintSlice(BatchJob& job, size_t max_items) const;

  // pool returns the pool for large batches; slice_items() is its slice size.
  WorkPool& pool() { return *pool_; }
  size_t slice_items() const { return slice_items_; }

  // StartDraining makes every later call (and every later batch of an open stream) fail with
  // UNAVAILABLE, a status clients retry elsewhere, so that shutdown drops no accepted work.
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const Authorizer& authorizer() const { return *authorizer_; }
  const Observers& observers() const { return observers_; }
  const Minter& minter() const { return minter_; }

 private:
  // MintUnary and VerifyUnary are the unary calls' work, done synchronously on the calling
  // thread against a pinned key store table.
  // `observer` may be null.
  absl::Status MintUnary(const grpc::ServerContextBase& context,
                         const v1::MintTokenRequest& request, v1::MintTokenResponse* response,
                         CallObserver* observer) const;
  absl::Status VerifyUnary(const grpc::ServerContextBase& context,
                           const v1::VerifyTokenRequest& request, v1::VerifyTokenResponse* response,
                           CallObserver* observer) const;
  // Admit returns OK or the UNAVAILABLE status for a new call or batch.
  absl::Status Admit(CallObserver* observer) const;

  internal::ArenaMessageAllocator<v1::MintTokenRequest, v1::MintTokenResponse> unary_allocator_;
  internal::ArenaMessageAllocator<v1::MintTokensRequest, v1::MintTokensResponse> batch_allocator_;
  std::atomic<bool> draining_{false};
  const KeyStore* store_;
  const Clock* clock_;
  std::shared_ptr<const Authorizer> authorizer_;
  const Observers observers_;
  Minter minter_;
  BatchMinter batch_minter_{&minter_};
  const size_t slice_items_;
  std::unique_ptr<WorkPool> pool_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_TOKEN_SERVICE_H_
