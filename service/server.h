// server.h: the sasmint gRPC server: TokenService, KeyAdmin, health and reflection.
//
// Server::Start binds the listen address (port 0 picks a free port, reported by port()),
// registers the services and the standard grpc.health.v1.Health service, and starts serving.
// KeyAdmin is served on the main address, or, when admin_listen_address is set, only by a
// second server on that address (so that a NetworkPolicy or a loopback bind can keep key
// management away from the gateways). Health reports NOT_SERVING until SetServing(true) is
// called once keys are loaded. With TLS options the main and admin listeners speak TLS (mutual
// TLS with a client CA) and, with an enabled Authorizer, every call is authorized for its caller
// (token_service.h); health_listen_address then serves grpc.health.v1.Health alone, in
// plaintext, for probes that cannot present client certificates. Thread-safe.
#ifndef SASMINT_SERVICE_SERVER_H_
#define SASMINT_SERVICE_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/authorizer.h"
#include "service/clock.h"
#include "service/key_admin.h"
#include "service/key_admin_service.h"
#include "service/keystore/key_store.h"
#include "service/minter.h"
#include "service/tls.h"
#include "service/token_service.h"

namespace sasmint {

struct ServerOptions {
  std::string listen_address = "127.0.0.1:50051";
  // admin_listen_address, if set, serves KeyAdmin there and not on listen_address.
  std::string admin_listen_address;
  // health_listen_address, if set, serves only the health service there, in plaintext.
  std::string health_listen_address;
  TlsOptions tls;  // the main and admin listeners'
  // authorizer decides who may mint what; null (or disabled) means every caller may mint
  // for every identity.
  std::shared_ptr<const Authorizer> authorizer;
  MintOptions mint;
  // Limits. Debian's gRPC 1.51 predates fixes for several HTTP/2 flood attacks, so connections
  // are bounded in streams, ping rate and age.
  int max_message_bytes = 16 * 1024 * 1024;
  int max_concurrent_streams = 100;              // per connection
  int keepalive_min_ping_interval_seconds = 10;  // faster client pings are strikes
  int max_ping_strikes = 2;                      // then the connection is closed (GOAWAY)
  int max_connection_idle_seconds = 0;           // 0 = unlimited
  int max_connection_age_seconds = 3600;         // 0 = unlimited; clients then reconnect,
  int max_connection_age_grace_seconds = 60;     // which also rebalances them across replicas
  PoolOptions pool;                              // large batches are minted here
  int shutdown_drain_ms = 500;                   // refuse new work this long before closing
  int shutdown_grace_seconds = 10;               // in-flight work finishes within this
};

// ValidateServerOptions returns INVALID_ARGUMENT naming the first bad option.
absl::Status ValidateServerOptions(const ServerOptions& options);

class Server {
 public:
  // Start returns a running server, or UNAVAILABLE if an address cannot be bound,
  // INVALID_ARGUMENT for bad options, TLS material (NOT_FOUND: unreadable file) or SASMINT_ISA
  // value, FAILED_PRECONDITION if SASMINT_ISA names an ISA this CPU lacks. `store`, `clock` and
  // `admin` must outlive the server; without `admin`, KeyAdmin answers UNIMPLEMENTED.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       const KeyStore* store, const Clock* clock,
                                                       KeyAdmin* admin = nullptr);
  ~Server();

  // port returns the bound TCP port.
  int port() const { return port_; }
  // admin_port returns the bound port of the separate admin address, or 0 if none.
  int admin_port() const { return admin_port_; }
  // health_port returns the bound port of the plaintext health address, or 0 if none.
  int health_port() const { return health_port_; }
  // signer returns the BatchSigner's description (ISA and kernels), for logs.
  const std::string& signer() const { return signer_description_; }

  // SetServing sets the health status of the server and of every service it hosts.
  void SetServing(bool serving);

  // Shutdown stops the server gracefully: health turns NOT_SERVING and, for `drain`, new calls
  // and new stream batches are refused with UNAVAILABLE (retriable elsewhere) while calls in
  // progress finish; then the listener closes and in-flight calls get up to `grace` before they
  // are cancelled. Idempotent.
  void Shutdown(absl::Duration drain, absl::Duration grace);

 private:
  Server() = default;

  std::unique_ptr<TokenServiceImpl> token_service_;
  std::unique_ptr<v1::KeyAdmin::CallbackService> key_admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> admin_server_;   // only with admin_listen_address
  std::unique_ptr<grpc::Server> health_server_;  // only with health_listen_address
  int port_ = 0;
  int admin_port_ = 0;
  int health_port_ = 0;
  std::string signer_description_;
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_SERVER_H_
