#include "service/rpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "service/rpc/tls.h"

namespace sasmint {
namespace {

// ApplyLimits sets the message, stream and connection limits every listener of ours shares.
void ApplyLimits(const ServerOptions& options, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             options.keepalive_min_ping_interval_seconds * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  if (options.max_connection_idle_seconds > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               options.max_connection_idle_seconds * 1000);
  }
  if (options.max_connection_age_seconds > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               options.max_connection_age_seconds * 1000);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               options.max_connection_age_grace_seconds * 1000);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const KeyStore* store, const Clock* clock,
                                                      KeyAdmin* admin) {
  if (absl::Status s = ValidateServerOptions(options); !s.ok()) return s;
  absl::StatusOr<BatchSigner> signer = BatchSigner::Best();
  if (!signer.ok()) return signer.status();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::shared_ptr<const Authorizer> authorizer =
      options.authorizer != nullptr ? options.authorizer
                                    : std::make_shared<const Authorizer>(Authorizer::Disabled());
  std::unique_ptr<Server> server(new Server());
  server->signer_description_ = signer->Describe();
  const Observers observers{options.metrics.get(), options.audit_log.get(), store, clock};
  server->token_service_ = std::make_unique<TokenServiceImpl>(store, clock, options.mint, *signer,
                                                              options.pool, authorizer, observers);
  // Without a KeyAdmin the service is still registered (discoverable), answering UNIMPLEMENTED.
  if (admin != nullptr && options.key_admin_enabled) {
    server->key_admin_ = std::make_unique<KeyAdminServiceImpl>(admin, authorizer, observers);
  } else {
    server->key_admin_ = std::make_unique<v1::KeyAdmin::CallbackService>();
  }
  const bool separate_admin =
      admin != nullptr && options.key_admin_enabled && !options.admin_listen_address.empty();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials, &server->port_);
  ApplyLimits(options, builder);
  builder.RegisterService(server->token_service_.get());
  if (!separate_admin) builder.RegisterService(server->key_admin_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen_address,
                                               " (address in use, not local, or malformed)"));
  }
  if (separate_admin) {
    grpc::ServerBuilder admin_builder;
    // The same credentials: KeyAdmin callers are authorized by their certificates too.
    admin_builder.AddListeningPort(options.admin_listen_address, *credentials,
                                   &server->admin_port_);
    ApplyLimits(options, admin_builder);
    admin_builder.RegisterService(server->key_admin_.get());
    server->admin_server_ = admin_builder.BuildAndStart();
    if (server->admin_server_ == nullptr || server->admin_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on admin address ",
                                                 options.admin_listen_address,
                                                 " (address in use, not local, or malformed)"));
    }
  }
  if (!options.health_listen_address.empty()) {
    // No services of ours: gRPC adds its default health service (and, once enabled anywhere in
    // the process, server reflection, which here lists only health).
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(options.health_listen_address,
                                    grpc::InsecureServerCredentials(), &server->health_port_);
    ApplyLimits(options, health_builder);
    server->health_server_ = health_builder.BuildAndStart();
    if (server->health_server_ == nullptr || server->health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen on health address ",
                                                 options.health_listen_address,
                                                 " (address in use, not local, or malformed)"));
    }
  }
  for (grpc::Server* s : {server->server_.get(), server->health_server_.get()}) {
    if (s == nullptr || s->GetHealthCheckService() == nullptr) continue;
    s->GetHealthCheckService()->SetServingStatus(std::string(kLivenessService), true);
  }
  // The files parsed and matched above; an expired certificate is still refused readiness.
  if (absl::Status usable = CheckTlsMaterial(options.tls, clock->Now()); !usable.ok()) {
    Log(LogLevel::kError, "TLS files unusable: not ready until they are fixed",
        {{"error", usable.message()}});
    server->tls_usable_ = false;
  }
  server->SetServing(false);
  if (options.tls.enabled() && options.tls.reload_interval_seconds > 0) {
    server->tls_watcher_ = std::thread(&Server::WatchTls, server.get(), options.tls, clock);
  }
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration(), absl::ZeroDuration()); }

void Server::SetServing(bool serving) {
  std::lock_guard<std::mutex> lock(mu_);
  keys_ready_ = serving;
  PublishReadiness();
}

void Server::WatchTls(TlsOptions options, const Clock* clock) {
  const auto interval = std::chrono::seconds(options.reload_interval_seconds);
  std::unique_lock<std::mutex> lock(mu_);
  while (!tls_wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    const absl::Status usable = CheckTlsMaterial(options, clock->Now());
    lock.lock();
    if (usable.ok() == tls_usable_) continue;
    tls_usable_ = usable.ok();
    if (usable.ok()) {
      Log(LogLevel::kInfo, "TLS files usable again: ready");
    } else {
      Log(LogLevel::kError, "TLS files unusable: not ready until they are fixed",
          {{"error", usable.message()}});
    }
    PublishReadiness();
  }
}

void Server::StopWatchingTls() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  tls_wake_.notify_all();
  if (tls_watcher_.joinable()) tls_watcher_.join();
}

void Server::PublishReadiness() {
  const bool serving = keys_ready_ && tls_usable_;
  ready_->store(serving, std::memory_order_relaxed);
  for (grpc::Server* s : {server_.get(), health_server_.get()}) {
    if (s == nullptr) continue;
    grpc::HealthCheckServiceInterface* health = s->GetHealthCheckService();
    if (health == nullptr) continue;
    // Named one by one: the overload without a name would also turn liveness off.
    health->SetServingStatus("", serving);
    health->SetServingStatus(std::string(kReadinessService), serving);
  }
}

void Server::Shutdown(absl::Duration drain, absl::Duration grace) {
  StopWatchingTls();
  if (server_ == nullptr) return;
  // Closing the server outright cancels calls that raced with it (clients see CANCELLED, which
  // they cannot tell from lost work). Refusing new work with UNAVAILABLE first lets clients move
  // on, so that by the time the listener closes nothing new is arriving.
  SetServing(false);
  token_service_->StartDraining();
  if (drain > absl::ZeroDuration()) absl::SleepFor(drain);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(grace));
  if (admin_server_ != nullptr) {
    admin_server_->Shutdown(deadline);
    admin_server_->Wait();
    admin_server_.reset();
  }
  server_->Shutdown(deadline);
  server_->Wait();
  server_.reset();
  // Last: probes see NOT_SERVING (not a refused connection) until the main listener is gone.
  if (health_server_ != nullptr) {
    health_server_->Shutdown(deadline);
    health_server_->Wait();
    health_server_.reset();
  }
}

}  // namespace sasmint
