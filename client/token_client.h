// token_client.h: the gateway client library: a SAS token cache that mints through sasmint.
//
// A TokenClient keeps one token per identity (device or module). Get returns the cached token
// while it is valid and mints otherwise; concurrent Gets of one identity share one mint
// (single-flight). Every identity got is renewed in the background at its renew_after (one
// scheduler thread over a min-heap of due times; renewals batched in batch and stream mode),
// retried with exponential backoff and full jitter until it expires, and pushed to Watch
// hooks: an MQTT reconnect with the new password, or an AMQP CBS put-token on the open link.
// After a server restart the channel reconnects within a second: Gets wait for it
// (wait_for_ready), renewals back off with jitter so that the ones the restart held up do not
// all land at once; a broken stream is reopened and its unanswered batches sent again. Server
// times are moved to the local clock by the measured skew (server_time against local time at
// receipt), so a wrong local clock neither renews late nor loops; over 60 s it is logged.
//
// Token texts are bearer secrets: the library never logs them. Thread-safe. Hooks and GetAsync
// callbacks run on the client's callback thread, one at a time, never under a lock (they may
// call the client, but not destroy it). The destructor cancels what is in flight, answers
// waiting Gets with CANCELLED, and returns once no thread of the client runs.
#ifndef SASMINT_CLIENT_TOKEN_CLIENT_H_
#define SASMINT_CLIENT_TOKEN_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace sasmint::client {

// Identity is a device (module_id empty) or a module of a device in one hub.
struct Identity {
  std::string hub;  // "myhub.azure-devices.net"
  std::string device_id;
  std::string module_id;

  bool operator==(const Identity& o) const {
    return hub == o.hub && device_id == o.device_id && module_id == o.module_id;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Identity& id) {
    return H::combine(std::move(h), id.hub, id.device_id, id.module_id);
  }
};

// Token is a minted token. Server times are as sent; local_* are the same instants on the
// injected clock (corrected for skew), which is what the client schedules with.
struct Token {
  std::string text;  // "SharedAccessSignature sr=...": a secret, never log it
  absl::Time expires_at;
  absl::Time renew_after;
  absl::Time server_time;
  absl::Time local_expires_at;
  absl::Time local_renew_after;
};

// PutToken is an AMQP CBS put-token for the token of an open connection ($cbs node).
struct PutToken {
  std::string audience;  // name: "{hub}/devices/{id}[/modules/{module}]"
  std::string token_type = "servicebus.windows.net:sastoken";  // as the Azure IoT C SDK sends
  const Token* token = nullptr;                                // valid during the hook call only
};

// TokenHooks are called, on the callback thread, when a renewed token replaces a cached one.
struct TokenHooks {
  std::function<void(const Identity&, const Token&)> on_token_renewed = nullptr;  // MQTT
  std::function<void(const Identity&, const PutToken&)> on_put_token = nullptr;   // AMQP CBS
  // on_renewal_failed: the server refused the identity (NOT_FOUND, FAILED_PRECONDITION for a
  // disabled device, PERMISSION_DENIED, INVALID_ARGUMENT): renewal stops until the next Get.
  std::function<void(const Identity&, const absl::Status&)> on_renewal_failed = nullptr;
};

enum class MintMode { kUnary, kBatch, kStream };

// TokenClientStats are counters since Create.
struct TokenClientStats {
  int64_t tokens_minted = 0;           // tokens received
  int64_t renewals = 0;                // of those, tokens that replaced a cached token
  int64_t rpcs = 0;                    // RPCs (unary, batch) or stream messages sent
  int64_t cache_hits = 0;              // Gets answered from the cache
  int64_t coalesced = 0;               // Gets that joined a mint already in flight
  int64_t retries = 0;                 // mint attempts after a failed one
  int64_t failures = 0;                // failed mint attempts, per identity
  int64_t expired_before_renewal = 0;  // tokens that reached expiry before their renewal
  int64_t clock_skew_warnings = 0;     // times |skew| went over the threshold
  int64_t stream_reopens = 0;          // streams opened after the first
  absl::Duration clock_skew;           // latest local time minus server_time (+: local ahead)
  int64_t identities = 0;              // identities cached
};

class TokenClient {
 public:
  struct Options {
    // target: a gRPC target: "host:port", "dns:///svc:50051" or "ipv4:a:p,b:p" (several
    // addresses are balanced round-robin).
    std::string target;
    // TLS: all empty means a plaintext channel; root_certs alone is TLS, with key and chain mTLS.
    std::string tls_root_certs_pem, tls_private_key_pem, tls_cert_chain_pem;
    MintMode mode = MintMode::kBatch;
    int max_batch_size = 1000;                           // tokens per batch or stream message
    absl::Duration batch_delay = absl::Milliseconds(2);  // gathering for Gets
    absl::Duration renew_batch_delay = absl::Milliseconds(100);  // gathering for renewals
    uint32_t ttl_seconds = 0;                                    // 0: the server's default
    absl::Duration rpc_timeout = absl::Seconds(5);
    absl::Duration get_timeout = absl::Seconds(10);      // Get and GetAsync give up after this
    absl::Duration get_min_validity = absl::Seconds(5);  // Get re-mints tokens closer to expiry
    // Retries: the n-th retry waits uniform(0, min(max_backoff, initial * 2^(n-1))) ("full
    // jitter"), at most a third of the token's remaining life. Renewals start from 1 s: they
    // have 15% of the lifetime or more to spare, and the retries of the renewals a server restart
    // held up then spread over seconds instead of landing together when it is back.
    absl::Duration initial_backoff = absl::Milliseconds(100);  // a Get is waiting
    absl::Duration renew_initial_backoff = absl::Seconds(1);   // background renewals
    absl::Duration max_backoff = absl::Seconds(5);
    // spread_first_renewal renews an identity's first token at a uniform random point between
    // 1 s after minting and renew_after: a gateway that starts with N devices mints N tokens at
    // once, and the server's jitter alone would bunch their renewals into its renew window (15%
    // of the lifetime), 5x the steady rate. Costs one early mint per identity.
    bool spread_first_renewal = true;
    absl::Duration clock_skew_threshold = absl::Seconds(60);
    const Clock* clock = &Clock::Real();  // must outlive the client
    // on_clock_skew is called (callback thread) each time |skew| goes over the threshold.
    std::function<void(absl::Duration skew)> on_clock_skew;
    // log receives warnings (one line each, never a token); default: stderr.
    std::function<void(const std::string& line)> log;
    uint64_t seed = 0;  // jitter seed; 0: random
  };

  // Create validates `options` and connects lazily. INVALID_ARGUMENT for an empty target or
  // out-of-range sizes and durations.
  static absl::StatusOr<std::unique_ptr<TokenClient>> Create(Options options);
  ~TokenClient();
  TokenClient(const TokenClient&) = delete;
  TokenClient& operator=(const TokenClient&) = delete;

  // Get returns a token valid for at least get_min_validity, minting if the cache has none,
  // and starts renewing the identity in the background. After get_timeout it returns the last
  // error (e.g. UNAVAILABLE) or DEADLINE_EXCEEDED, unless a cached token is still valid, which
  // it then returns. Errors about the identity (NOT_FOUND, FAILED_PRECONDITION,
  // PERMISSION_DENIED, INVALID_ARGUMENT) and errors retries will not fix (UNAUTHENTICATED)
  // return at once.
  absl::StatusOr<Token> Get(const Identity& identity);
  // GetAsync is Get with `done` called on the callback thread (or inline on a cache hit).
  void GetAsync(const Identity& identity, std::function<void(absl::StatusOr<Token>)> done);

  // Watch registers hooks for the identity's renewed tokens (it does not mint by itself);
  // returns an id for Unwatch.
  uint64_t Watch(const Identity& identity, TokenHooks hooks);
  // Unwatch removes hooks; hook calls already queued may still run.
  void Unwatch(uint64_t watch_id);
  // Forget drops the identity's token and stops renewing it.
  void Forget(const Identity& identity);

  // Stats returns the counters.
  TokenClientStats Stats() const;

 private:
  class Impl;
  explicit TokenClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Audience returns the resource a token of `identity` is for, unencoded:
// "{hub}/devices/{device}[/modules/{module}]" (the CBS put-token name).
std::string Audience(const Identity& identity);

}  // namespace sasmint::client

#endif  // SASMINT_CLIENT_TOKEN_CLIENT_H_
