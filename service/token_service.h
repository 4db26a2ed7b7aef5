// token_service.h: the gRPC TokenService and KeyAdmin services (callback API).
//
// TokenServiceImpl translates sasmint.v1 protobuf requests into MintRequests, mints them with a
// Minter against the KeyStore's current snapshot, and translates results back. It never blocks
// inside a reactor. VerifyToken answers UNIMPLEMENTED until its issue lands.
// Thread-safe: gRPC calls it from many threads; it holds no mutable state of its own.
#ifndef SASMINT_SERVICE_TOKEN_SERVICE_H_
#define SASMINT_SERVICE_TOKEN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "service/clock.h"
#include "service/keystore/key_store.h"
#include "service/minter.h"

namespace sasmint {

// ToMintRequest converts one protobuf request; INVALID_ARGUMENT if it has no scope or an
// unknown key slot. Field contents are validated later by Minter::Mint.
absl::StatusOr<MintRequest> ToMintRequest(const v1::MintTokenRequest& request);

// ToGrpcStatus converts an absl::Status to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class TokenServiceImpl final : public v1::TokenService::CallbackService {
 public:
  // The store and clock must outlive the service.
  TokenServiceImpl(const KeyStore* store, const Clock* clock, MintOptions options)
      : store_(store), clock_(clock), minter_(options) {}

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

  // MintBatch fills `response` for `request`: per-item results in order, batch_id echoed.
  // INVALID_ARGUMENT if the batch exceeds the maximum size, UNAVAILABLE before keys are loaded
  // or while draining.
  absl::Status MintBatch(const v1::MintTokensRequest& request,
                         v1::MintTokensResponse* response) const;

  // StartDraining makes every later call (and every later batch of an open stream) fail with
  // UNAVAILABLE, a status clients retry elsewhere, so that shutdown drops no accepted work.
  void StartDraining() { draining_.store(true, std::memory_order_release); }
  bool draining() const { return draining_.load(std::memory_order_acquire); }

 private:
  // Admit returns OK or the UNAVAILABLE status for a new call or batch.
  absl::Status Admit() const;

  std::atomic<bool> draining_{false};
  const KeyStore* store_;
  const Clock* clock_;
  Minter minter_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_TOKEN_SERVICE_H_
