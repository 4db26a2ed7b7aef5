// sasmint health: one grpc.health.v1.Health check, as a Kubernetes gRPC probe makes it (for
// scripts, exec probes and operators; the probe itself needs no binary).
#include <chrono>
#include <iostream>

#include "grpc/health/v1/health.grpc.pb.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"

namespace sasmint::cli {

using internal::Fail;
using internal::FailStatus;

int RunHealth(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "health";
  auto flags =
      Flags::Parse(args, internal::WithClientTlsFlags({"server", "service", "timeout"}), {});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (absl::Status s = internal::NoPositional(*flags); !s.ok()) {
    return FailStatus(kCmd, kExitUsage, s);
  }
  const auto server = flags->Get("server");
  if (!server) return Fail(kCmd, kExitUsage, "missing --server ADDR");
  const absl::StatusOr<int64_t> timeout_s = internal::TimeoutFlag(*flags);
  if (!timeout_s.ok()) return FailStatus(kCmd, kExitUsage, timeout_s.status());
  auto channel = internal::ChannelFromFlags(*flags, *server);
  if (!channel.ok()) return FailStatus(kCmd, kExitUsage, channel.status());
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(flags->Get("service").value_or(""));
  grpc::health::v1::HealthCheckResponse response;
  // Like a probe: no waiting for the server to come up; an unreachable server is a failure now.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(*timeout_s));
  const grpc::Status status =
      grpc::health::v1::Health::NewStub(*channel)->Check(&context, request, &response);
  if (!status.ok()) return Fail(kCmd, kExitFailure, internal::RpcError(status, **channel));
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
            << std::endl;
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk
                                                                             : kExitFailure;
}

}  // namespace sasmint::cli
