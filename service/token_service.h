// token_service.h: the gRPC TokenService and KeyAdmin services (callback API).
//
// TokenServiceImpl translates sasmint.v1 protobuf requests into MintRequests, mints them with a
// Minter against the KeyStore's current snapshot, and translates results back. It never blocks
// inside a reactor: batches larger than a slice are minted on a WorkPool, one slice at a time,
// round-robin with other batches, so one large caller cannot starve the others. VerifyToken
// explains tokens and certificates with the Verifier (verifier.h) against the same snapshot, at the
// server's clock. Every call is authorized first (authorizer.h): the caller's rule is found once
// per call from its verified certificate, then each item or verified scope is checked before
// any key is looked up; denials are logged, one JSON line per call. Thread-safe: gRPC calls it from
// many threads; it holds no mutable state of its own.
#ifndef SASMINT_SERVICE_TOKEN_SERVICE_H_
#define SASMINT_SERVICE_TOKEN_SERVICE_H_

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/message_allocator.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/authorizer.h"
#include "service/cert_inspector.h"
#include "service/clock.h"
#include "service/keystore/key_store.h"
#include "service/minter.h"
#include "service/verifier.h"
#include "service/work_pool.h"

namespace sasmint {

// ToMintRequest converts one protobuf request; INVALID_ARGUMENT if it has no scope or an
// unknown key slot. Field contents are validated later by Minter::Mint.
absl::StatusOr<MintRequest> ToMintRequest(const v1::MintTokenRequest& request);

// ToKeySlot converts a protobuf key slot; INVALID_ARGUMENT for values this server does not know.
absl::StatusOr<KeySlot> ToKeySlot(v1::KeySlot slot);

// ToGrpcStatus converts an absl::Status to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// ToRight converts a protobuf right (0 when unspecified); INVALID_ARGUMENT for unknown values.
absl::StatusOr<uint32_t> ToRight(v1::Right right);

// VerifyTarget is a VerifyToken request taken apart before any key is looked up: the token with
// its key-free checks done, or the certificate and its identity, and `scopes`, every scope whose
// keys or registry entry the verification will read.
struct VerifyTarget {
  std::optional<InspectedToken> token;
  std::optional<CertificateInfo> certificate;
  std::vector<TokenScope> scopes;
};

// ResolveVerifyTarget takes a request apart; INVALID_ARGUMENT if it has neither or both of token
// and certificate_pem, a bad right, a certificate without a valid identity, or an unparsable
// certificate. Reads no keys.
absl::StatusOr<VerifyTarget> ResolveVerifyTarget(const v1::VerifyTokenRequest& request,
                                                 const VerifyOptions& options);

// FillVerifyResponse writes a report into a response.
void FillVerifyResponse(const VerifyReport& report, v1::VerifyTokenResponse* response);

// CallerIdentityOf returns what the transport verified about the peer of a call: its
// certificate's common name, subject alternative names and SPIFFE ID, or an anonymous identity
// for a call without a verified certificate.
CallerIdentity CallerIdentityOf(const grpc::ServerContextBase& context);

// Caller is the authorization state of one call: its rule, and its identity for logs.
struct Caller {
  const CallerRule* rule = Authorizer::Unrestricted();
  std::string identity;  // CallerIdentity::Describe(); empty when authorization is off
};

// ResolveCaller returns the caller of a call to `method`; PERMISSION_DENIED (logged) if
// `authorizer` is enabled and no rule matches the peer. Reads nothing when it is disabled.
absl::StatusOr<Caller> ResolveCaller(const Authorizer& authorizer,
                                     const grpc::ServerContextBase& context,
                                     absl::string_view method);

// LogDenied writes the one log line of a denied call: caller, identity, method, what.
void LogDenied(const Caller& caller, absl::string_view method, const absl::Status& denial,
               int denied_items = 1);

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
  int denied = 0;             // items refused so far, logged once when the batch is done
  absl::Status first_denial;  // the first of them

  bool done() const { return next >= request->requests_size(); }
};

// PoolOptions size the pool that mints large batches off gRPC's callback threads.
struct PoolOptions {
  int threads = 0;           // 0: one per CPU
  size_t slice_items = 256;  // batches larger than this go to the pool, a slice at a time
  size_t max_queued_batches = 4096;
};

// ArenaMessageAllocator gives each call's request and response one protobuf Arena: a batch's
// thousands of result messages and token strings then cost a few block allocations instead of
// several mallocs each, and are freed at once when the call ends.
template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions options;
      options.start_block_size = 4096;
      options.max_block_size = 1 << 20;
      return options;
    }
    google::protobuf::Arena arena_;
  };
};

class TokenServiceImpl final : public v1::TokenService::CallbackService {
 public:
  // The store and clock must outlive the service.
  // A null `authorizer` turns authorization off.
  TokenServiceImpl(const KeyStore* store, const Clock* clock, MintOptions options,
                   BatchSigner signer, PoolOptions pool = {},
                   std::shared_ptr<const Authorizer> authorizer = nullptr);
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
  // for a bad request (INVALID_ARGUMENT, see ResolveVerifyTarget) or before keys are loaded
  // (UNAVAILABLE). It never returns key bytes or the expected signature.
  grpc::ServerUnaryReactor* VerifyToken(grpc::CallbackServerContext* context,
                                        const v1::VerifyTokenRequest* request,
                                        v1::VerifyTokenResponse* response) override;

  // StartBatch admits a batch of `caller`: INVALID_ARGUMENT if it exceeds the maximum size,
  // UNAVAILABLE before keys are loaded or while draining. Sets the response's batch_id.
  absl::StatusOr<BatchJob> StartBatch(const v1::MintTokensRequest& request,
                                      v1::MintTokensResponse* response, Caller caller = {},
                                      const char* method = "MintTokens") const;
  // MintSlice mints up to `max_items` more items of `job`; returns whether items remain. Items
  // the caller may not mint fail alone with PERMISSION_DENIED.
  bool MintSlice(BatchJob& job, size_t max_items) const;
  // MintBatch is StartBatch plus every slice, inline.
  absl::Status MintBatch(const v1::MintTokensRequest& request,
                         v1::MintTokensResponse* response) const;

  // pool returns the pool for large batches; slice_items() is its slice size.
  WorkPool& pool() { return *pool_; }
  size_t slice_items() const { return slice_items_; }

  // StartDraining makes every later call (and every later batch of an open stream) fail with
  // UNAVAILABLE, a status clients retry elsewhere, so that shutdown drops no accepted work.
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  const Authorizer& authorizer() const { return *authorizer_; }

 private:
  // MintUnary and VerifyUnary are the unary calls' work, done synchronously on the calling
  // thread against a pinned key store table.
  absl::Status MintUnary(const grpc::ServerContextBase& context,
                         const v1::MintTokenRequest& request,
                         v1::MintTokenResponse* response) const;
  absl::Status VerifyUnary(const grpc::ServerContextBase& context,
                           const v1::VerifyTokenRequest& request,
                           v1::VerifyTokenResponse* response) const;
  // Admit returns OK or the UNAVAILABLE status for a new call or batch.
  absl::Status Admit() const;

  ArenaMessageAllocator<v1::MintTokenRequest, v1::MintTokenResponse> unary_allocator_;
  ArenaMessageAllocator<v1::MintTokensRequest, v1::MintTokensResponse> batch_allocator_;
  std::atomic<bool> draining_{false};
  const KeyStore* store_;
  const Clock* clock_;
  std::shared_ptr<const Authorizer> authorizer_;
  Minter minter_;
  const size_t slice_items_;
  std::unique_ptr<WorkPool> pool_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_TOKEN_SERVICE_H_
