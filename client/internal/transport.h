// transport.h: how the token client's mints reach the server (internal to client/).
//
// A Transport sends batches of identities and answers each batch once, with one outcome per
// identity in request order: unary mode issues one MintToken per identity, batch mode one
// MintTokens per batch, stream mode one message per batch on a long-lived StreamTokens stream.
// Unary and batch calls may wait for the channel to be ready (wait_for_ready) up to the RPC
// timeout, so a call made while the server restarts completes once it is back. A stream is
// opened on first use; when a stream that had answered breaks (server restart, connection age),
// a new one is opened and the batches it left unanswered are sent once more on it; otherwise
// they fail with the stream's status and the caller retries (with backoff). Thread-safe.
#ifndef SASMINT_CLIENT_INTERNAL_TRANSPORT_H_
#define SASMINT_CLIENT_INTERNAL_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/token_client.h"

namespace sasmint::client::internal {

// MintOutcome is one identity's result: status OK with the token's fields, or the error.
struct MintOutcome {
  absl::Status status;
  // call_failed: the error is the whole call's (a MintTokens or StreamTokens status, e.g.
  // UNAUTHENTICATED), not this identity's (a per-item error, or a MintToken status).
  bool call_failed = false;
  std::string token;
  int64_t expires_at = 0;
  int64_t renew_after = 0;
  int64_t server_time = 0;
};

struct MintBatch {
  std::vector<Identity> identities;
  // wait_for_ready: unary and batch calls wait (within the RPC timeout) for a channel that is
  // reconnecting, rather than fail at once; streams always fail at once.
  bool wait_for_ready = true;
  // done is called exactly once, with identities.size() outcomes, on a gRPC thread (or on the
  // caller's, before Send returns, if the transport is shut down).
  std::function<void(std::vector<MintOutcome>)> done;
};

struct TransportOptions {
  std::string target;
  std::string tls_root_certs_pem, tls_private_key_pem, tls_cert_chain_pem;
  MintMode mode = MintMode::kBatch;
  uint32_t ttl_seconds = 0;
  absl::Duration rpc_timeout = absl::Seconds(5);
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Send sends `batch`; its done callback reports the outcomes.
  virtual void Send(MintBatch batch) = 0;
  // Shutdown cancels everything in flight and returns once every done callback has returned;
  // later Sends fail at once with CANCELLED. Idempotent.
  virtual void Shutdown() = 0;
  // rpcs returns the RPCs (or stream messages) sent; stream_reopens the streams opened after
  // the first.
  virtual int64_t rpcs() const = 0;
  virtual int64_t stream_reopens() const { return 0; }
};

// MakeTransport creates the channel (connecting lazily) and the transport for options.mode.
// INVALID_ARGUMENT for an empty target or TLS key without a certificate chain.
absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(const TransportOptions& options);

// IsRetryable returns whether a mint that failed with `status` may succeed if tried again
// (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN, CANCELLED).
bool IsRetryable(const absl::Status& status);

}  // namespace sasmint::client::internal

#endif  // SASMINT_CLIENT_INTERNAL_TRANSPORT_H_
