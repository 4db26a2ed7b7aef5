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
// plaintext, for probes that cannot present client certificates.
//
// Health service names: "" and kReadinessService ("sasmint.v1.TokenService") are SERVING only
// while tokens can be minted (keys loaded, not draining, and, with TLS files reloaded, the files
// on disk usable: CheckTlsMaterial in tls.h, checked at the reload interval): readiness.
// kLivenessService
// ("liveness") is SERVING from start until the listeners close, whatever the keys do (a failed
// reload keeps the old keys and is no reason to restart the process): liveness. Thread-safe.
#ifndef SASMINT_SERVICE_RPC_SERVER_H_
#define SASMINT_SERVICE_RPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "service/admin/key_admin.h"
#include "service/config/server_options.h"
#include "service/keystore/key_store.h"
#include "service/rpc/key_admin_service.h"
#include "service/rpc/token_service.h"

namespace sasmint {

inline constexpr absl::string_view kReadinessService = "sasmint.v1.TokenService";
inline constexpr absl::string_view kLivenessService = "liveness";

class Server {
 public:
  // Start returns a running server, or UNAVAILABLE if an address cannot be bound,
  // INVALID_ARGUMENT for bad options, TLS material (NOT_FOUND: unreadable file) or SASMINT_ISA
  // value, FAILED_PRECONDITION if SASMINT_ISA names an ISA this CPU lacks. `store`, `clock` and
  // `admin` must outlive the server; without `admin` (or with options.key_admin_enabled false),
  // KeyAdmin answers UNIMPLEMENTED.
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
  // derived_keys returns the DPS derived-key cache of TokenService (for its counters).
  const DerivedKeyCache& derived_keys() const { return token_service_->minter().derived_keys(); }

  // readiness returns a flag that is true while readiness is SERVING; it outlives the server
  // (for a metrics collector).
  std::shared_ptr<const std::atomic<bool>> readiness() const { return ready_; }

  // SetServing says whether keys are loaded and work is accepted; readiness is SERVING when this
  // and the TLS check both say so (liveness stays SERVING).
  void SetServing(bool serving);

  // Shutdown stops the server gracefully: health turns NOT_SERVING and, for `drain`, new calls
  // and new stream batches are refused with UNAVAILABLE (retriable elsewhere) while calls in
  // progress finish; then the listener closes and in-flight calls get up to `grace` before they
  // are cancelled. Idempotent.
  void Shutdown(absl::Duration drain, absl::Duration grace);

 private:
  Server() = default;

  void PublishReadiness();
  void WatchTls(TlsOptions options, const Clock* clock);
  void StopWatchingTls();

  std::unique_ptr<TokenServiceImpl> token_service_;
  std::unique_ptr<v1::KeyAdmin::CallbackService> key_admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> admin_server_;   // only with admin_listen_address
  std::unique_ptr<grpc::Server> health_server_;  // only with health_listen_address
  int port_ = 0;
  int admin_port_ = 0;
  int health_port_ = 0;
  std::string signer_description_;

  std::mutex mu_;
  std::condition_variable tls_wake_;
  bool keys_ready_ = false;  // guarded by mu_
  bool tls_usable_ = true;   // guarded by mu_
  bool stopping_ = false;    // guarded by mu_
  std::shared_ptr<std::atomic<bool>> ready_ = std::make_shared<std::atomic<bool>>(false);
  std::thread tls_watcher_;  // only when TLS files are reloaded
};

}  // namespace sasmint

#endif  // SASMINT_SERVICE_RPC_SERVER_H_
